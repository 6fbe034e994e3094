"""The suite's pytest plugin: target and identity options, the profile, and the contract report.

The same options work for `pytest contract_tests` and for `recoup-contract`, which runs this suite.
"""

from __future__ import annotations

import pytest

from contract_tests import suite as suite_module
from contract_tests.report import ContractReport
from contract_tests.suite import PROFILES, Suite
from contract_tests.target import TargetError, TargetOptions


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("recoup-contract", "Recoup stop contract")
    group.addoption("--base-url", default=None, help="check the server at URL (default: the mock in-process)")
    group.addoption("--api-key", default=None, help="API key of account A")
    group.addoption("--other-api-key", default=None, help="API key of account B (for ownership)")
    group.addoption(
        "--no-generation",
        action="store_true",
        default=False,
        help="skip (and report) the properties that start a generation",
    )
    group.addoption("--profile", choices=sorted(PROFILES), default="ci", help="ci (default) or deep")
    group.addoption("--max-examples", type=int, default=None, help="override the profile's examples")
    group.addoption("--contract-seed", type=int, default=None, help="seed of Schemathesis and Hypothesis")
    group.addoption("--mutant", default=None, help="in-process only: check a deliberately broken mock")


def pytest_configure(config: pytest.Config) -> None:
    profile = PROFILES[config.getoption("profile")]
    max_examples = config.getoption("max_examples")
    if max_examples is not None:
        if max_examples < 1:
            raise pytest.UsageError("--max-examples must be at least 1")
        profile = type(profile)(profile.name, max_examples, profile.stateful, profile.deterministic)
    options = TargetOptions.from_env(
        base_url=config.getoption("base_url"),
        api_key=config.getoption("api_key"),
        other_api_key=config.getoption("other_api_key"),
        mutant=config.getoption("mutant"),
    )
    if config.getoption("no_generation"):
        options = TargetOptions(**{**options.__dict__, "generation": False})
    if options.mutant and not options.in_process:
        raise pytest.UsageError("--mutant checks the in-process mock; it cannot be combined with --base-url")
    try:
        options.key_a, options.key_b  # noqa: B018 - both identities are needed before anything runs
    except TargetError as exc:
        raise pytest.UsageError(str(exc)) from None
    suite = Suite(options, profile, config.getoption("contract_seed"))
    suite_module.activate(suite)
    config.pluginmanager.register(ContractReport(suite), "recoup-contract-report")


def pytest_sessionstart(session: pytest.Session) -> None:
    # Connect before collection: the Schemathesis tests are generated from the target's spec.
    try:
        suite_module.current().target  # noqa: B018
    except TargetError as exc:
        pytest.exit(f"recoup-contract: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)


def pytest_unconfigure(config: pytest.Config) -> None:
    suite_module.activate(None)


@pytest.fixture(scope="session")
def contract() -> Suite:
    return suite_module.current()
