"""Rules that judge one response on its own, as Schemathesis checks: they run on every generated case.

The Hypothesis rules call the same functions on the responses they read, so a rule such as "every
error is the contract's error body" is written once.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis

from mock_server.http.spec import deref


def error_body_problem(
    status: int, content_type: str, body: bytes, *, status_required: bool = True
) -> str | None:
    """Why an error response is not `{"status": "error", "error": "..."}` as JSON, or None.

    A 401 may carry its text in `message` instead: the running service answers an unknown key so.
    Without `status_required` (an error the operation documents with a schema that does not require
    `status`, as the service answers a refused chat id), `{"error": "..."}` alone is enough.
    """
    if status < 400:
        return None
    media_type = content_type.split(";")[0].strip().lower()
    if media_type != "application/json":
        return f"an error ({status}) must be application/json, not {media_type or 'untyped'}"
    try:
        data: Any = json.loads(body)
    except ValueError:
        return f"an error ({status}) body must be JSON"
    if not isinstance(data, dict):
        return f"an error ({status}) body must be a JSON object"
    if (status_required or "status" in data) and data.get("status") != "error":
        return f'an error ({status}) body must be an object with "status": "error"'
    fields = ("error", "message") if status == 401 else ("error",)
    if not any(isinstance(data.get(f), str) and data[f] for f in fields):
        return f"an error ({status}) body carries its text in {' or '.join(repr(f) for f in fields)}"
    return None


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
    """Whether the JSON schema `operation` documents for `status` requires `"status"`; when it
    documents none (or only `default`), the contract's error body is what is expected."""
    document = operation.schema.raw_schema
    responses = operation.definition.raw.get("responses", {})
    response = deref(document, responses.get(str(status)) or responses.get(f"{str(status)[0]}XX"))
    if not isinstance(response, dict):
        return True
    schema = deref(document, response.get("content", {}).get("application/json", {}).get("schema"))
    if not isinstance(schema, dict):
        return True
    return "status" in schema.get("required", [])
