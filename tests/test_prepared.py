"""Connexion's per-operation work happens once: a handler's arguments are worked out per operation
(no decorators per request), security signatures are inspected once, body and parameter validators
are built once, and answers are unchanged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from connexion.decorators import parameter
from connexion.middleware.request_validation import RequestValidationMiddleware
from connexion.validators import json as json_validators

from contract_tests.client import ChatRef, RecoupClient
from mock_server.http import prepared
from mock_server.http.app import create_app
from tests.conftest import KEY_A, TEST_CONFIG, TEST_SEED

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


async def test_a_parameter_validator_is_built_once_per_operation(
    api: RecoupClient, chat: ChatRef, monkeypatch: pytest.MonkeyPatch
):
    await api.stop(chat.chat_id)
    built = counting(monkeypatch, prepared.PreparedParameterValidator, "__init__")
    for _ in range(REQUESTS):
        assert (await api.stop(chat.chat_id)).json() == {"success": True, "stopped": False}
    assert built[0] == 0


# Requests each validation step refuses or lets through: parameters, media type, body, charset.
VALIDATED = [
    ("POST", "/api/chat/not-a-uuid/stop", {}, b""),
    ("POST", "/api/chat/{chat}/stop", {}, b""),
    ("POST", "/api/chat/{chat}/stop", {"content-type": "application/xml"}, b"<a/>"),
    ("POST", "/api/sessions", {"content-type": "application/json"}, b'{"title": 5}'),
    ("POST", "/api/sessions", {"content-type": "application/json"}, b"{]"),
    ("POST", "/api/sessions", {"content-type": "application/json; charset=utf-8"}, b'{"title": "t"}'),
    ("POST", "/api/sessions", {"content-type": "application/xml"}, b"<a/>"),
    ("POST", "/api/sessions", {"content-type": "multipart/form-data; boundary=x"}, b"--x--"),
    ("GET", "/api/sessions/{session}/chats?limit=abc", {}, b""),
    ("POST", "/api/chat", {"content-type": "application/json"}, b'{"messages": "none"}'),
]


async def _answers(app: Any, chat: ChatRef) -> list[tuple[int, str]]:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock")
    answers = []
    async with http:
        for method, path, headers, body in VALIDATED:
            target = path.format(chat=chat.chat_id, session=chat.session_id)
            response = await http.request(
                method, target, content=body, headers={"x-api-key": KEY_A, **headers}
            )
            # A request let through creates fresh ids: its answer's shape is what is compared.
            seen = response.text if response.is_error else sorted(response.json())
            answers.append((response.status_code, str(seen)))
    return answers


async def test_prepared_validation_answers_every_request_as_connexions_own(monkeypatch: pytest.MonkeyPatch):
    seed = {**TEST_SEED, "accounts": [{**TEST_SEED["accounts"][0], "sessions": [SESSION]}]}
    chat = ChatRef(SESSION["id"], SESSION["chats"][0]["id"])
    prepared_app = create_app(TEST_CONFIG, seed)
    monkeypatch.setattr(prepared, "PreparedValidationMiddleware", RequestValidationMiddleware)
    stock_app = create_app(TEST_CONFIG, seed)
    for app in (prepared_app, stock_app):
        await app.runtime.start()
    try:
        assert await _answers(prepared_app, chat) == await _answers(stock_app, chat)
    finally:
        for app in (prepared_app, stock_app):
            await app.runtime.close()


SESSION = {
    "id": "5b1f6a8e-0c39-4d0b-9a51-2f1f3e8f9a10",
    "title": "Prepared",
    "chats": [{"id": "9c3d2e1f-4b5a-4c6d-8e7f-0a1b2c3d4e5f", "title": "Idle"}],
}
