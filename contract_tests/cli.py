"""`recoup-contract`: check an implementation of the stop contract.

Exit status 0: the contract holds; 1: it does not (each violated rule is printed with the curl lines
that reproduce it); 2: the check could not run, or the suite itself failed (nothing counts against
the server). It runs this package's pytest suite with the options of `contract_tests.options`.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from contract_tests import options as run_options

PACKAGE_DIR = Path(__file__).resolve().parent

EXIT_HOLDS, EXIT_VIOLATED, EXIT_ERROR = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recoup-contract",
        description="Check that an implementation keeps the contract of POST /api/chat/{chatId}/stop. "
        "Without --base-url it checks the mock in-process. Exit status: 0 the contract holds, "
        "1 it does not, 2 the check could not run or the suite itself failed.",
    )
    run_options.add_cli_options(parser)
    parser.add_argument("--list-mutants", action="store_true", help="list the shipped mutants and exit")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show pytest's full output and tracebacks"
    )
    return parser


def pytest_arguments(args: argparse.Namespace) -> list[str]:
    arguments = [
        str(PACKAGE_DIR),
        # The suite runs wherever the command is started: no config, cache or rootdir of that place.
        "-c",
        os.devnull,
        "--rootdir",
        str(PACKAGE_DIR),
        "-p",
        "no:cacheprovider",
        "-W",
        "ignore::DeprecationWarning",
        # The rules report through their own violations, not assert statements: rewriting the asserts
        # of every module of every installed pytest plugin (Schemathesis, Hypothesis) costs seconds
        # of CPU per run where no bytecode cache can be written.
        "--assert=plain",
    ]
    arguments += (
        ["-v", "--tb=long"] if args.verbose else ["-q", "--tb=no", "--no-header", "-p", "no:warnings"]
    )
    arguments += run_options.pytest_arguments(vars(args))
    return arguments


def list_mutants() -> str:
    from contract_tests.mutants import MUTANTS

    return "\n".join(f"{m.name:<28} {m.breaks} (caught by {m.rule})" for m in MUTANTS.values())


def main(argv: Sequence[str] | None = None) -> int:
    # Imported libraries warn at import time, before pytest's filters apply; the report is the output.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*httpx.*starlette.testclient")
    try:
        args = build_parser().parse_args(argv)
    except argparse.ArgumentTypeError as exc:
        print(f"recoup-contract: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.list_mutants:
        print(list_mutants())
        return EXIT_HOLDS

    import pytest

    code = pytest.main(pytest_arguments(args))
    if code == pytest.ExitCode.OK:
        return EXIT_HOLDS
    if code == pytest.ExitCode.TESTS_FAILED:
        return EXIT_VIOLATED
    if code not in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        print(f"recoup-contract: the suite could not run (pytest exit code {int(code)})", file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
