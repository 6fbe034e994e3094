"""Every error the app can produce is the contract's body, and bad input never changes state."""

from __future__ import annotations

import json

import httpx
import pytest

from contract_tests.client import ChatRef, RecoupClient
from mock_server.domain.store import MemoryStore
from mock_server.http.app import create_app
from tests.conftest import KEY_A, TEST_CONFIG, TEST_SEED
from tests.judging import assert_error


async def test_unknown_route_is_404_in_the_error_body(api: RecoupClient):
    response = await api.http.get("/api/nowhere", headers=api.auth_headers())
    assert_error(response, 404, "Not found")


async def test_id_with_a_newline_is_400_not_a_routing_404(api: RecoupClient):
    for chat_id in ("%0A", "a%0Ab", "%0A%0A"):
        response = await api.http.post(f"/api/chat/{chat_id}/stop", headers=api.auth_headers())
        assert_error(response, 400, "chatId must be a valid UUID")
    response = await api.http.get("/api/sessions/%0A/chats", headers=api.auth_headers())
    assert_error(response, 400, "sessionId must be a valid UUID")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/api/chat/0b7a3c1e-9f0d-4c55-8e21-6a0f6d7e5b42/stop", "POST"),
        ("DELETE", "/api/sessions/0b7a3c1e-9f0d-4c55-8e21-6a0f6d7e5b42/chats", "GET, POST"),
        ("PUT", "/api/chat", "POST"),
    ],
)
async def test_wrong_method_is_405_with_allow(api: RecoupClient, method: str, path: str, allow: str):
    response = await api.http.request(method, path, headers=api.auth_headers())
    assert_error(response, 405)
    assert response.headers["allow"] == allow


async def test_wrong_content_type_is_415(api: RecoupClient):
    response = await api.http.post(
        "/api/sessions", content=b"<t/>", headers={**api.auth_headers(), "content-type": "application/xml"}
    )
    assert_error(response, 415)


@pytest.mark.parametrize("label", ["text/plain;charset=UTF-8", "text/plain", None])
async def test_a_body_labelled_plain_text_or_not_at_all_is_read_as_json(
    api: RecoupClient, chat: ChatRef, label: str | None
):
    # As the service's `request.json()` reads it; WorkflowChatTransport posts its body so.
    headers = {**api.auth_headers(), **({"content-type": label} if label else {})}
    body = json.dumps(api.send_body(chat, "hi")).encode()
    async with api.http.stream("POST", "/api/chat", content=body, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
    response = await api.http.post("/api/sessions", content=b'{"title": "x"}', headers=headers)
    assert response.status_code == 200 and response.json()["session"]["title"] == "x"


async def test_plain_text_that_is_not_json_is_400(api: RecoupClient):
    response = await api.http.post(
        "/api/chat", content=b"title=x", headers={**api.auth_headers(), "content-type": "text/plain"}
    )
    assert_error(response, 400)


async def test_malformed_json_is_400(api: RecoupClient):
    response = await api.http.post(
        "/api/chat", content=b"{nope", headers={**api.auth_headers(), "content-type": "application/json"}
    )
    assert_error(response, 400)


async def test_body_against_the_schema_is_400(api: RecoupClient, chat: ChatRef):
    for body in (
        {"chatId": chat.chat_id, "sessionId": chat.session_id},
        {"chatId": chat.chat_id, "sessionId": chat.session_id, "messages": []},
        {"chatId": chat.chat_id, "sessionId": chat.session_id, "messages": [{"role": "robot"}]},
    ):
        response = await api.request("POST", "/api/chat", json_body=body)
        assert_error(response, 400)


async def test_non_uuid_ids_in_a_send_are_400(api: RecoupClient, chat: ChatRef):
    body = api.send_body(chat, "hi")
    response = await api.request("POST", "/api/chat", json_body={**body, "chatId": "nope"})
    assert_error(response, 400, "chatId must be a valid UUID")


class ExplodingStore(MemoryStore):
    async def chat_and_owner(self, chat_id: str):
        raise RuntimeError("secret internal detail")


async def test_an_unexpected_exception_is_500_without_a_traceback():
    app = create_app(TEST_CONFIG, TEST_SEED, store=ExplodingStore())
    await app.runtime.start()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock") as http:
        response = await http.post(
            "/api/chat/0b7a3c1e-9f0d-4c55-8e21-6a0f6d7e5b42/stop", headers={"x-api-key": KEY_A}
        )
    await app.runtime.close()
    assert assert_error(response, 500) == {"status": "error", "error": "Internal server error"}
    assert "secret" not in response.text and "Traceback" not in response.text


async def test_bad_input_never_changes_stored_state(app, api: RecoupClient, api_b: RecoupClient):
    chat = await api.create_chat()
    before = await app.runtime.service.state()
    messages_before = await app.runtime.service.store.messages(chat.chat_id)
    attempts = [
        api_b.stop(chat.chat_id),
        api_b.request("POST", "/api/chat", json_body=api_b.send_body(chat, "hijack")),
        api.request("POST", "/api/chat", json_body={"chatId": chat.chat_id}),
        api.request("POST", "/api/chat", json_body={**api.send_body(chat, "x"), "sessionId": "bad"}),
        api.request("POST", "/api/sessions", json_body={"title": 42}),
        api.request("POST", f"/api/sessions/{chat.session_id}/chats", json_body={"id": "not-a-uuid"}),
        api.stop(chat.chat_id, headers={"x-api-key": "wrong"}),
        api.http.post("/api/sessions", content=b"{", headers={"content-type": "application/json"}),
    ]
    for attempt in attempts:
        response = await attempt
        assert 400 <= response.status_code < 500
    assert await app.runtime.service.state() == before
    assert await app.runtime.service.store.messages(chat.chat_id) == messages_before
