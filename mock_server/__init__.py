"""A stateful mock of the Recoup chat API: the chat-stop contract and the chat lifecycle around it."""

import warnings

__version__ = "0.1.0"

# Connexion imports Starlette's TestClient at import time, which warns about httpx on every start;
# the mock never uses that client, so the warning only confuses people reading the server's output.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
