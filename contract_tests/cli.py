"""`recoup-contract`: check an implementation of the stop contract; exit 0 when it holds, 1 when not.

It runs this package's pytest suite with the given target and identities, prints the contract report
(each violated rule with a curl line that reproduces it) and can write JUnit XML for CI.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from contract_tests.suite import PROFILES
from contract_tests.target import ENV_API_KEY, ENV_BASE_URL, ENV_OTHER_API_KEY

PACKAGE_DIR = Path(__file__).resolve().parent

EXIT_HOLDS, EXIT_VIOLATED, EXIT_ERROR = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    from contract_tests.mutants import MUTANTS

    parser = argparse.ArgumentParser(
        prog="recoup-contract",
        description="Check that an implementation keeps the contract of POST /api/chat/{chatId}/stop. "
        "Without --base-url it checks the mock in-process. Exit status: 0 the contract holds, "
        "1 it does not, 2 the check could not run.",
    )
    parser.add_argument(
        "--base-url", help=f"server to check (or {ENV_BASE_URL}); default: the mock in-process"
    )
    parser.add_argument("--api-key", help=f"API key of account A (or {ENV_API_KEY})")
    parser.add_argument("--other-api-key", help=f"API key of another account, B (or {ENV_OTHER_API_KEY})")
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="ci",
        help="ci: fast, fixed seed, bounded examples (default); deep: many examples, stateful phase",
    )
    parser.add_argument("--max-examples", type=int, metavar="N", help="examples per operation and property")
    parser.add_argument("--seed", type=int, metavar="N", help="seed of the generated cases")
    parser.add_argument("--junit-xml", type=Path, metavar="FILE", help="write a JUnit XML report to FILE")
    parser.add_argument(
        "--no-generation",
        action="store_true",
        help="do not start generations (skips, and reports, the rules that need one)",
    )
    parser.add_argument(
        "--mutant", choices=sorted(MUTANTS), help="check a deliberately broken mock in-process"
    )
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
        "--profile",
        args.profile,
    ]
    arguments += (
        ["-v", "--tb=long"] if args.verbose else ["-q", "--tb=no", "--no-header", "-p", "no:warnings"]
    )
    for flag, value in (
        ("--base-url", args.base_url),
        ("--api-key", args.api_key),
        ("--other-api-key", args.other_api_key),
        ("--max-examples", args.max_examples),
        ("--contract-seed", args.seed),
        ("--mutant", args.mutant),
    ):
        if value is not None:
            arguments += [flag, str(value)]
    if args.no_generation:
        arguments.append("--no-generation")
    if args.junit_xml is not None:
        arguments.append(f"--junitxml={args.junit_xml}")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    # Imported libraries warn at import time, before pytest's filters apply; the report is the output.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*httpx.*starlette.testclient")
    args = build_parser().parse_args(argv)
    if args.max_examples is not None and args.max_examples < 1:
        print("recoup-contract: --max-examples must be at least 1", file=sys.stderr)
        return EXIT_ERROR

    import pytest

    code = pytest.main(pytest_arguments(args))
    if code == pytest.ExitCode.OK:
        return EXIT_HOLDS
    if code == pytest.ExitCode.TESTS_FAILED:
        return EXIT_VIOLATED
    print(f"recoup-contract: the suite could not run (pytest exit code {int(code)})", file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
