"""Rules that judge one response on its own, as Schemathesis checks: they run on every generated case.

The Hypothesis rules call the same functions on the responses they read, so a rule such as "every
error is the contract's error body" is written once.
"""

from __future__ import annotations

from typing import Any

import schemathesis

from contract_judge.bodies import error_body_problem, status_required


@schemathesis.check
def error_bodies_are_contract_shaped(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case[Any]
) -> bool | None:
    """Every error answer is the contract's error body (`{"status": "error", "error": "..."}`)."""
    problem = error_body_problem(
        response.status_code,
        response.headers.get("content-type", [""])[0],
        response.content,
        status_required=status_is_required(case.operation, response.status_code),
    )
    if problem is not None:
        raise AssertionError(problem)
    return None


def status_is_required(operation: schemathesis.APIOperation[Any, Any, Any, Any], status: int) -> bool:
    """Whether the schema `operation` documents for `status` requires `"status"` (see `status_required`)."""
    return status_required(operation.schema.raw_schema, operation.definition.raw, status)
