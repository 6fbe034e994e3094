"""Schemathesis over every operation of the spec: each applicable built-in check on every response.

Status codes, content types, schemas and headers conform; negative data is rejected and positive
data accepted (with the statuses each operation documents); auth, for both credential schemes, is
not ignored; unsupported methods get 405 with `Allow`; no server errors; and the suite's own
single-response rules (`contract_tests.checks`). Only cases a real client can send as generated are
sent. The deep profile also runs the stateful phase, which chains calls through the spec's links.
"""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis import BaseSchema
from schemathesis import Config as SchemathesisConfig
from schemathesis.core.failures import Failure  # a seam: tests/seams.py
from schemathesis.core.result import Ok  # a seam: tests/seams.py
from schemathesis.errors import FailureGroup

from contract_tests import checks  # noqa: F401 - registers the suite's own checks with Schemathesis
from contract_tests.bridge import SchemathesisBridge
from contract_tests.outgoing import sendable
from contract_tests.suite import Suite, current
from contract_tests.violations import Violation, ViolationError

# Operations that start a generation (skipped, and reported, with --no-generation).
GENERATING_OPERATIONS = ("sendChatMessage", "startChatRun")
# Statuses a valid request with valid credentials may get: never 400, 401 or a server error.
_ACCEPTED = ("200", "201", "202", "204", "403", "404", "409")
# Statuses an invalid request may get; 200 too where the operation reads a body it cannot parse
# as `{}`, as its `x-recoup-request` says (the service's `safeParseJson`).
_REJECTED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]


def _reads_garbage_as_empty(operation: dict[str, Any]) -> bool:
    return bool(operation.get("x-recoup-request", {}).get("readAsEmpty"))


def _operations_config(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Per operation, the statuses that accept positive data: the ones it documents of `_ACCEPTED`."""
    found = []
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            accepted = [code for code in operation["responses"] if code in _ACCEPTED]
            configured: dict[str, Any] = {"positive_data_acceptance": {"expected-statuses": accepted}}
            if _reads_garbage_as_empty(operation):
                configured["negative_data_rejection"] = {"expected-statuses": ["200", *_REJECTED]}
            # By operation id where there is one: a path filter also matches the paths below it
            # (`/api/chat/runs` under `/api/chat`), and the configs of every match are merged.
            found.append(
                {"include-operation-id": operation["operationId"], "checks": configured}
                if "operationId" in operation
                else {"include-path": path, "include-method": method.upper(), "checks": configured}
            )
    return found


def schemathesis_config(suite: Suite) -> SchemathesisConfig:
    profile = suite.profile
    target = suite.target
    phases: dict[str, Any] = {
        "examples": {"enabled": True},
        "coverage": {"enabled": True},
        "fuzzing": {"enabled": True},
        "stateful": {"enabled": profile.stateful},
    }
    auth: dict[str, Any] = {"apiKeyAuth": {"api_key": suite.options.key_a}}
    if target.accepts_bearer:
        auth["bearerAuth"] = {"bearer": suite.options.key_a}
    data: dict[str, Any] = {
        "base-url": suite.options.url,
        "generation": {
            "mode": "all",
            "max-examples": profile.max_examples,
            "deterministic": profile.deterministic,
            "database": "none",
            "no-shrink": not suite.shrink,
        },
        "phases": phases,
        "checks": {"enabled": True},
        "auth": {"openapi": auth},
        "operations": _operations_config(target.document),
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
# Every request Schemathesis makes, its own probes included, goes through the suite's `Outgoing`.
BRIDGE = SchemathesisBridge(TARGET)
schema.app = BRIDGE
CALL_KWARGS: dict[str, Any] = {"base_url": TARGET.options.url}


@schema.hook
def filter_case(context: schemathesis.HookContext, case: schemathesis.Case[Any]) -> bool:
    """Only cases a real client sends as generated: legal header values, no `.`/`..` path segments."""
    headers = {str(k): str(v) for k, v in (case.headers or {}).items()}
    segments = {str(v) for v in (case.path_parameters or {}).values()}
    return sendable(headers) and not segments & {".", ".."}


def _violation(failure: Failure, case: schemathesis.Case[Any]) -> Violation:
    case_id = getattr(failure, "case_id", None) or case.id
    curl = BRIDGE.journal.get(case_id) or case.as_curl_command(base_url=TARGET.options.url)
    message = f"{failure.title}: {failure.message}".strip().rstrip(":")
    return Violation(message, curl)


@schema.parametrize()
def test_every_operation_keeps_the_spec(case: schemathesis.Case[Any]) -> None:
    TARGET.counts["schemathesis cases"] += 1
    try:
        case.call_and_validate(**CALL_KWARGS)
    except FailureGroup as group:
        raise ViolationError(*(_violation(f, case) for f in group.exceptions)) from group
    except Failure as failure:
        raise ViolationError(_violation(failure, case)) from failure


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
            except FailureGroup as group:
                failures.append(ViolationError(*(_violation(f, case) for f in group.exceptions)))
                raise
            except BaseException as exc:
                failures.append(exc)
                raise

    TARGET.counts["stateful runs"] += 1
    try:
        schemathesis.stateful.run_state_machine_as_test(
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
    if not TARGET.has_operation("post", "/api/chat"):
        pytest.skip("the contract judged has no POST /api/chat")
    if not SUITE.options.generation:
        pytest.skip(f"--no-generation: {', '.join(GENERATING_OPERATIONS)} not exercised by Schemathesis")
    operations = {
        result.ok().definition.raw.get("operationId")
        for result in schema.get_all_operations()
        if isinstance(result, Ok)
    }
    assert set(GENERATING_OPERATIONS) <= operations
