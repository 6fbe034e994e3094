"""The contract's error body, and where an operation documents a body without `status`."""

from __future__ import annotations

import json
from typing import Any

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


def status_required(document: dict[str, Any], operation: dict[str, Any] | None, status: int) -> bool:
    """Whether the JSON schema `operation` documents for `status` requires `"status"`; when it
    documents none (or only `default`), the contract's error body is what is expected."""
    if operation is None:
        return True
    responses = operation.get("responses", {})
    response = deref(document, responses.get(str(status)) or responses.get(f"{str(status)[0]}XX"))
    if not isinstance(response, dict):
        return True
    schema = deref(document, response.get("content", {}).get("application/json", {}).get("schema"))
    if not isinstance(schema, dict):
        return True
    return "status" in schema.get("required", [])
