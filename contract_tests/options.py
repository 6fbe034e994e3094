"""Every option of a contract run, declared once: `recoup-contract` and the pytest plugin are built from it.

An option may also come from an environment variable (`RECOUP_CONTRACT_<NAME>`). Under pytest, the
few names other plugins may also use carry a `--contract-` prefix (`--contract-seed`).
"""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

ENV_PREFIX = "RECOUP_CONTRACT_"
CONTRACTS = ("served", "published")
PROFILE_NAMES = ("ci", "deep")
DEFAULT_TIMEOUT = 10.0


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 seconds")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _chat_id(text: str) -> str:
    try:
        uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a chat id (a UUID)") from None
    return text


@dataclass(frozen=True)
class Option:
    name: str
    """The destination, and the flag: `--<name with dashes>`."""
    help: str
    type: Callable[[str], Any] | None = None
    default: Any = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    flag_only: bool = False
    """A switch (`store_true`)."""
    env: bool = False
    """Also read from `RECOUP_CONTRACT_<NAME>`."""
    pytest_prefix: bool = False
    """Under pytest the flag is `--contract-<name>`, as another plugin may own `--<name>`."""

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def pytest_flag(self) -> str:
        return "--contract-" + self.name.replace("_", "-") if self.pytest_prefix else self.flag

    @property
    def pytest_dest(self) -> str:
        """The destination under pytest: prefixed like the flag, as another plugin may own the name
        (pytest-timeout's `--timeout`, say) and argparse refuses two options with one destination."""
        return "contract_" + self.name if self.pytest_prefix else self.name

    @property
    def env_name(self) -> str:
        return ENV_PREFIX + self.name.upper()

    def help_text(self) -> str:
        return f"{self.help} (or {self.env_name})" if self.env else self.help

    def initial(self) -> Any:
        """The default, or the environment variable's value converted like the flag's."""
        raw = os.environ.get(self.env_name) if self.env else None
        if not raw:
            return self.default
        try:
            return self.type(raw) if self.type else raw
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"{self.env_name}: {exc}") from None

    def add_to(self, add: Callable[..., Any], flag: str, dest: str) -> None:
        if self.flag_only:
            add(flag, dest=dest, action="store_true", default=False, help=self.help_text())
            return
        add(
            flag,
            dest=dest,
            type=self.type,
            default=self.initial(),
            choices=self.choices,
            metavar=self.metavar,
            help=self.help_text(),
        )


OPTIONS = (
    Option("base_url", "server to check; default: the mock in-process", metavar="URL", env=True),
    Option("api_key", "API key of account A (required with --base-url)", metavar="KEY", env=True),
    Option(
        "other_api_key", "API key of another account, B (required with --base-url)", metavar="KEY", env=True
    ),
    Option(
        "contract",
        "the contract to judge against: 'served' (the full served document: stop and the chat "
        "lifecycle, x-api-key or Bearer) or 'published' (the published stop document alone, x-api-key "
        "only, for a target that implements just the stop)",
        default="served",
        choices=CONTRACTS,
        env=True,
    ),
    Option(
        "chat",
        "an idle chat of account A; with --other-chat, the stop rules that need a chat are judged with "
        "the stop operation alone (default: create one through POST /api/sessions)",
        type=_chat_id,
        metavar="ID",
        env=True,
    ),
    Option("other_chat", "a chat of account B (see --chat)", type=_chat_id, metavar="ID", env=True),
    Option(
        "timeout",
        f"seconds the suite waits for any one thing of the target: an answer, a generation to start, "
        f"a stopped stream to end (default {DEFAULT_TIMEOUT:g})",
        type=_positive_float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        env=True,
        pytest_prefix=True,
    ),
    Option(
        "profile",
        "ci: fast, fixed seed, bounded examples (default); deep: many examples, stateful phase",
        default="ci",
        choices=PROFILE_NAMES,
        pytest_prefix=True,
    ),
    Option("max_examples", "examples per operation and rule", type=_positive_int, metavar="N"),
    Option("seed", "seed of the generated cases", type=_int, metavar="N", pytest_prefix=True),
    Option(
        "no_shrink",
        "report the first failing example of a rule as found, without shrinking it to a smaller one: "
        "a faster verdict against a broken server, a less minimal curl line",
        flag_only=True,
    ),
    Option(
        "no_generation", "do not start generations (the rules that need one are NOT CHECKED)", flag_only=True
    ),
    Option("mutant", "check a deliberately broken mock in-process (see --list-mutants)", metavar="NAME"),
    Option(
        "rule",
        "check only the rules whose name contains TEXT (e.g. 403, or stream_ends)",
        metavar="TEXT",
        pytest_prefix=True,
    ),
    Option(
        "junit_xml",
        "write a JUnit XML report to FILE: one test case per rule, failures with their curl lines",
        metavar="FILE",
        pytest_prefix=True,
    ),
)


def add_pytest_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("recoup-contract", "Recoup stop contract")
    for option in OPTIONS:
        option.add_to(group.addoption, option.pytest_flag, option.pytest_dest)


def add_cli_options(parser: argparse.ArgumentParser) -> None:
    for option in OPTIONS:
        option.add_to(parser.add_argument, option.flag, option.name)


def from_pytest(config: pytest.Config) -> dict[str, Any]:
    return {option.name: config.getoption(option.pytest_dest) for option in OPTIONS}


def pytest_arguments(values: Mapping[str, Any]) -> Iterator[str]:
    """The pytest flags that carry `values` (parsed by the CLI) to the plugin."""
    for option in OPTIONS:
        value = values.get(option.name)
        if option.flag_only:
            if value:
                yield option.pytest_flag
        elif value is not None:
            yield option.pytest_flag
            yield str(value)
