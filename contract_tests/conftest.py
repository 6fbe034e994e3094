"""The suite's pytest plugin: its options (`contract_tests.options`), the run, shared chats, the report.

The same options work for `pytest contract_tests` and for `recoup-contract`, which runs this suite.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

import pytest

from contract_tests import options as run_options
from contract_tests import suite as suite_module
from contract_tests.client import ChatRef, SetupUnavailable
from contract_tests.report import ContractReport
from contract_tests.suite import PROFILES, Suite
from contract_tests.target import TargetError, TargetOptions

RULES_MODULE = "contract_tests.rules"
TEST_MODULES = "contract_tests.test_"


def pytest_addoption(parser: pytest.Parser) -> None:
    try:
        run_options.add_pytest_options(parser)
    except argparse.ArgumentTypeError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (pytest-xdist) runs the suite in this process: a run is one target, one loop and
    one report of what it checked."""
    return 0


def pytest_configure(config: pytest.Config) -> None:
    values = run_options.from_pytest(config)
    profile = PROFILES[values["profile"]]
    if values["max_examples"] is not None:
        profile = replace(profile, max_examples=values["max_examples"])
    target_options = TargetOptions(
        base_url=values["base_url"],
        api_key=values["api_key"],
        other_api_key=values["other_api_key"],
        contract=values["contract"],
        chat=values["chat"],
        other_chat=values["other_chat"],
        timeout=values["timeout"],
        generation=not values["no_generation"],
        mutant=values["mutant"],
    )
    try:
        target_options.validate()
    except TargetError as exc:
        raise pytest.UsageError(str(exc)) from None
    suite = Suite(target_options, profile, values["seed"], shrink=not values["no_shrink"])
    suite_module.activate(suite)
    _forget_modules_bound_to_a_run()
    config.pluginmanager.register(ContractReport(suite, values["junit_xml"]), "recoup-contract-report")
    if not config.option.help:
        # Connect before collection: the Schemathesis tests are generated from the target's document.
        try:
            suite.target  # noqa: B018
        except TargetError as exc:
            raise pytest.UsageError(f"recoup-contract: {exc}") from None


def _forget_modules_bound_to_a_run() -> None:
    """The rules and test modules read the run at import; a second run in the same process (a
    second `recoup-contract` main, pytester) must import them afresh to see its own."""
    for name in [n for n in sys.modules if n == RULES_MODULE or n.startswith(TEST_MODULES)]:
        del sys.modules[name]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = config.getoption("contract_rule")
    if wanted:
        chosen = [item for item in items if wanted in item.name]
        config.hook.pytest_deselected(items=[item for item in items if item not in chosen])
        items[:] = chosen


def pytest_unconfigure(config: pytest.Config) -> None:
    suite_module.activate(None)


@pytest.fixture(scope="session")
def contract() -> Suite:
    return suite_module.current()


@pytest.fixture(scope="session")
def chats(contract: Suite) -> dict[str, ChatRef]:
    """One chat of each account: the given ones (`--chat`, `--other-chat`), or new ones."""
    options, target = contract.options, contract.target
    if options.chat and options.other_chat:
        return {"a": ChatRef(None, options.chat), "b": ChatRef(None, options.other_chat)}
    if not target.has_operation("post", "/api/sessions"):
        pytest.skip(
            "needs a chat of each account: give --chat and --other-chat, or judge a target whose "
            "contract has POST /api/sessions"
        )

    async def create() -> dict[str, ChatRef]:
        return {
            "a": await target.client("a").create_chat("contract: A"),
            "b": await target.client("b").create_chat("contract: B"),
        }

    try:
        return target.run(create)
    except SetupUnavailable as exc:
        pytest.skip(f"set-up: {exc}; give --chat and --other-chat to judge the stop alone")
