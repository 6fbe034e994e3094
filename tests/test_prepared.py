"""Connexion's per-operation work happens once: a handler's arguments are worked out per operation
(no decorators per request), security signatures are inspected once, body and parameter validators
are built once, and answers are unchanged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from connexion.decorators import parameter
from connexion.validators import json as json_validators

from contract_tests.client import ChatRef, RecoupClient
from mock_server.http import prepared

REQUESTS = 5


def counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    calls = [0]
    original: Callable[..., Any] = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


async def test_a_handler_is_decorated_once_not_per_request(
    api: RecoupClient, chat: ChatRef, monkeypatch: pytest.MonkeyPatch
):
    await api.stop(chat.chat_id)
    inspections = counting(monkeypatch, parameter, "inspect_function_arguments")
    for _ in range(REQUESTS):
        assert (await api.stop(chat.chat_id)).json() == {"success": True, "stopped": False}
    assert inspections[0] == 0


async def test_a_security_function_is_inspected_once(
    api: RecoupClient, chat: ChatRef, monkeypatch: pytest.MonkeyPatch
):
    await api.stop(chat.chat_id)
    inspections = counting(monkeypatch, prepared, "inspect_function_arguments")
    for _ in range(REQUESTS):
        await api.stop(chat.chat_id)
    assert inspections[0] == 0


async def test_a_body_schema_gets_one_draft4_validator(api: RecoupClient, monkeypatch: pytest.MonkeyPatch):
    await api.request("POST", "/api/sessions", json_body={"title": "warm"})
    built = counting(monkeypatch, prepared, "Draft4RequestValidator")
    for n in range(REQUESTS):
        response = await api.request("POST", "/api/sessions", json_body={"title": f"t{n}"})
        assert response.status_code == 200
    bad = await api.request("POST", "/api/sessions", json_body={"title": 42})
    assert bad.status_code == 400
    assert built[0] == 0
    assert json_validators.JSONRequestBodyValidator is not prepared.PreparedJSONBodyValidator


async def test_a_parameter_gets_one_draft4_validator(api: RecoupClient, chat: ChatRef, monkeypatch):
    path = f"/api/chat/{chat.chat_id}/stream"
    await api.request("GET", f"{path}?startIndex=0")
    built = counting(monkeypatch, prepared, "Draft4Validator")
    for _ in range(REQUESTS):
        assert (await api.request("GET", f"{path}?startIndex=0")).status_code == 204
    bad = await api.request("GET", f"{path}?startIndex=abc")
    assert bad.status_code == 400
    assert "startIndex" in bad.json()["error"] or "abc" in bad.json()["error"]
    assert built[0] == 0


@pytest.mark.parametrize(
    ("content_type", "status", "title"),
    [
        # JSON in any case (Connexion compares the type as written; the mock relabels it).
        ("Application/JSON", 200, "odd"),
        # JSON in another encoding, which Starlette detects.
        ("application/json;charset=utf-16", 200, "odd"),
        # A parameter holding "/" defeats Connexion's JSON test: a clear 400, not a 500.
        ("application/json; x=a/b", 400, None),
    ],
)
async def test_a_body_is_read_as_connexion_reads_it(api: RecoupClient, content_type, status, title):
    body = '{"title": "odd"}'.encode("utf-16" if "utf-16" in content_type else "utf-8")
    response = await api.http.post(
        "/api/sessions", content=body, headers={**api.auth_headers(), "content-type": content_type}
    )
    assert response.status_code == status, response.text
    if title is not None:
        assert response.json()["session"]["title"] == title
    else:
        assert response.json()["error"] == "The Content-Type header cannot be read"
