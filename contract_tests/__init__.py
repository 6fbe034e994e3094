"""The stop-contract suite: checks any implementation of the Recoup chat-stop contract over HTTP."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence

# What the suite needs beyond the mock; `pip install "recoup-mock[contract]"` brings them.
REQUIRED = ("pytest", "schemathesis", "hypothesis", "httpx", "httpx_sse", "openapi_core")


def main(argv: Sequence[str] | None = None) -> int:
    """`recoup-contract`: say which extra to install when the suite's libraries are missing."""
    missing = [name for name in REQUIRED if importlib.util.find_spec(name) is None]
    if missing:
        print(
            f"recoup-contract: missing {', '.join(missing)}; install the suite with "
            "pip install 'recoup-mock[contract]'",
            file=sys.stderr,
        )
        return 2
    from contract_tests import cli

    return cli.main(argv)
