"""A stateful mock of the Recoup chat API: the chat-stop contract and the chat lifecycle around it."""

__version__ = "0.1.0"
