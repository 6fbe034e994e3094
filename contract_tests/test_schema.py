"""Schemathesis over every operation of the spec: each applicable built-in check on every response.

Status codes, content types, schemas and headers conform; negative data is rejected and positive
data accepted; auth is not ignored; unsupported methods get 405 with `Allow`; no server errors. The
deep profile also runs the stateful phase, which chains calls through the spec's links.
"""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis import BaseSchema
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok
from schemathesis.generation.stateful import run_state_machine_as_test

from contract_tests.suite import Suite, current

# Operations that start a generation (skipped, and reported, with --no-generation).
GENERATING_OPERATIONS = ("sendChatMessage",)


def schemathesis_config(suite: Suite) -> SchemathesisConfig:
    profile = suite.profile
    phases: dict[str, Any] = {
        "examples": {"enabled": True},
        "coverage": {"enabled": True},
        "fuzzing": {"enabled": True},
        "stateful": {"enabled": profile.stateful},
    }
    data: dict[str, Any] = {
        "base-url": suite.options.url,
        "generation": {
            "mode": "all",
            "max-examples": profile.max_examples,
            "deterministic": profile.deterministic,
            "database": "none",
        },
        "phases": phases,
        "checks": {"enabled": True},
        "auth": {"openapi": {"apiKeyAuth": {"api_key": suite.options.key_a}}},
        "output": {"sanitization": {"enabled": False}},
        "request-timeout": suite.options.timeout,
        "suppress-health-check": ["too_slow", "filter_too_much", "large_base_example"],
    }
    seed = suite.effective_seed
    if seed is not None:
        data["seed"] = seed
    return SchemathesisConfig.from_dict(data)


SUITE = current()
TARGET = SUITE.target
schema: BaseSchema = schemathesis.openapi.from_dict(TARGET.document, config=schemathesis_config(SUITE))
if not SUITE.options.generation:
    schema = schema.exclude(operation_id=list(GENERATING_OPERATIONS))
# In-process, Schemathesis calls the target as a WSGI app (probes included); over HTTP, a session.
schema.app = TARGET.wsgi_app()
CALL_KWARGS: dict[str, Any] = {"base_url": TARGET.options.url}
if schema.app is None:
    CALL_KWARGS["session"] = TARGET.requests_session()


@schema.parametrize()
def test_every_operation_keeps_the_spec(case: schemathesis.Case[Any]) -> None:
    TARGET.counts["schemathesis cases"] += 1
    case.call_and_validate(**CALL_KWARGS)


def test_stateful_sequences_keep_the_spec() -> None:
    if not SUITE.profile.stateful:
        pytest.skip("the stateful phase runs in the deep profile")
    machine = schema.as_state_machine()
    failures: list[BaseException] = []

    class Machine(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
            return dict(CALL_KWARGS)

        def validate_response(self, response: Any, case: schemathesis.Case[Any], **kwargs: Any) -> None:
            try:
                super().validate_response(response, case, **kwargs)
            except BaseException as exc:
                failures.append(exc)
                raise

    TARGET.counts["stateful runs"] += 1
    try:
        run_state_machine_as_test(
            Machine,
            settings=hypothesis.settings(
                max_examples=SUITE.profile.max_examples,
                deadline=None,
                database=None,
                stateful_step_count=10,
                # Replaying a sequence against a live server meets different state (new ids, chats
                # still generating), so shrinking one would chase a moving target.
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            ),
        )
    except hypothesis.errors.Flaky:
        # Hypothesis re-runs earlier sequences while generating; against a server whose state has
        # moved on they may draw differently. As in Schemathesis's own stateful engine, that is a
        # violation only when a check failed in a sequence itself.
        if failures:
            raise failures[0] from None


def test_generating_operations_are_checked() -> None:
    if not SUITE.options.generation:
        pytest.skip(f"--no-generation: {', '.join(GENERATING_OPERATIONS)} not exercised by Schemathesis")
    operations = {
        result.ok().definition.raw.get("operationId")
        for result in schema.get_all_operations()
        if isinstance(result, Ok)
    }
    assert set(GENERATING_OPERATIONS) <= operations
