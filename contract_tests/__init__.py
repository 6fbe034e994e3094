"""The stop-contract suite: checks any implementation of the Recoup chat-stop contract over HTTP."""
