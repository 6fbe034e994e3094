"""An error answer judged as the contract suite judges it (`contract_judge.error_body_problem`),
then held to the message the behaviour under test gives: one rule, not a copy per test file."""

from __future__ import annotations

import json
from typing import Any

import httpx

from contract_judge.bodies import error_body_problem


def assert_error_body(status: int, content_type: str, body: bytes, *, expected: int) -> dict[str, Any]:
    """The answer is `expected` with the contract's error body; the parsed body."""
    assert status == expected, f"expected {expected}, got {status}: {body[:500]!r}"
    problem = error_body_problem(status, content_type, body)
    assert problem is None, f"{problem}: {body[:500]!r}"
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def assert_error(
    response: httpx.Response, status: int, message: str | None = None, *, containing: str | None = None
) -> dict[str, Any]:
    """`response` is `status` with the contract's error body; its `error` is `message` when given,
    or contains `containing`. The parsed body."""
    body = assert_error_body(
        response.status_code, response.headers.get("content-type", ""), response.content, expected=status
    )
    if message is not None:
        assert body["error"] == message, body
    if containing is not None:
        assert containing in body["error"], body
    return body
