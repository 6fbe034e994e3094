"""`POST /api/chat/{chatId}/stop`: outcomes, the order of checks, idempotency and the stop race."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from contract_tests.client import ChatRef, RecoupClient
from mock_server.http.app import create_app
from tests.conftest import KEY_A, KEY_B, TEST_CONFIG, TEST_SEED, asgi_client
from tests.judging import assert_error

UNKNOWN_CHAT = "0b7a3c1e-9f0d-4c55-8e21-6a0f6d7e5b42"


async def start_generating(api: RecoupClient, chat: ChatRef) -> asyncio.Task[httpx.Response]:
    """Send a message in the background and return once the chat is generating."""
    task = asyncio.create_task(api.send(chat, "Tell me a long story"))
    await api.wait_streaming(chat)
    return task


async def test_stop_with_nothing_running_is_stopped_false(api: RecoupClient, chat: ChatRef):
    response = await api.stop(chat.chat_id)
    assert response.status_code == 200
    assert response.json() == {"success": True, "stopped": False}


async def test_stop_is_idempotent(api: RecoupClient, chat: ChatRef):
    for _ in range(5):
        response = await api.stop(chat.chat_id)
        assert response.json() == {"success": True, "stopped": False}
    assert (await api.chat_state(chat))["isStreaming"] is False


async def test_stop_of_a_running_generation_is_stopped_true_then_false(api: RecoupClient, chat: ChatRef):
    sending = await start_generating(api, chat)
    first = await api.stop(chat.chat_id)
    assert first.json() == {"success": True, "stopped": True}
    second = await api.stop(chat.chat_id)
    assert second.json() == {"success": True, "stopped": False}
    stream = await sending
    assert stream.status_code == 200


async def test_after_a_stop_the_chat_accepts_a_new_message(api: RecoupClient, chat: ChatRef):
    sending = await start_generating(api, chat)
    await api.stop(chat.chat_id)
    await sending
    again = await api.send(chat, "And now?")
    assert again.status_code == 200
    assert again.text.rstrip().endswith("data: [DONE]")


async def test_concurrent_stops_of_one_generation_exactly_one_is_true(api: RecoupClient, chat: ChatRef):
    sending = await start_generating(api, chat)
    responses = await asyncio.gather(*(api.stop(chat.chat_id) for _ in range(8)))
    await sending
    assert all(r.status_code == 200 for r in responses)
    assert sorted(r.json()["stopped"] for r in responses) == [False] * 7 + [True]


async def test_non_uuid_chat_id_is_400(api: RecoupClient):
    for chat_id in ("not-a-uuid", "123", "0b7a3c1e9f0d4c558e216a0f6d7e5b42", "%20"):
        response = await api.stop(chat_id)
        assert_error(response, 400, "chatId must be a valid UUID")


async def test_unknown_chat_is_404(api: RecoupClient):
    assert_error(await api.stop(UNKNOWN_CHAT), 404, "Chat not found")


async def test_foreign_chat_is_403(api: RecoupClient, api_b: RecoupClient, chat: ChatRef):
    assert_error(await api_b.stop(chat.chat_id), 403, "Forbidden")


async def test_foreign_stop_does_not_stop_the_generation(
    api: RecoupClient, api_b: RecoupClient, chat: ChatRef
):
    sending = await start_generating(api, chat)
    assert_error(await api_b.stop(chat.chat_id), 403, "Forbidden")
    assert (await api.chat_state(chat))["isStreaming"] is True
    assert (await api.stop(chat.chat_id)).json()["stopped"] is True
    await sending


async def test_missing_credentials_is_401(anonymous: RecoupClient, chat: ChatRef):
    response = await anonymous.stop(chat.chat_id)
    assert_error(response, 401, "Exactly one of x-api-key or Authorization must be provided")


async def test_both_credentials_is_401(api: RecoupClient, chat: ChatRef):
    response = await api.stop(chat.chat_id, headers={"Authorization": "Bearer key-a"})
    assert_error(response, 401, "Exactly one of x-api-key or Authorization must be provided")


async def test_unknown_key_is_401_with_message(anonymous: RecoupClient, chat: ChatRef):
    response = await anonymous.stop(chat.chat_id, headers={"x-api-key": "wrong"})
    assert_error(response, 401, "Unauthorized")
    assert response.json()["message"] == "Unauthorized"


async def test_bearer_key_is_accepted(anonymous: RecoupClient, chat: ChatRef):
    response = await anonymous.stop(chat.chat_id, headers={"Authorization": "Bearer key-a"})
    assert response.json() == {"success": True, "stopped": False}


async def test_auth_is_checked_before_the_uuid(anonymous: RecoupClient):
    no_key = "Exactly one of x-api-key or Authorization must be provided"
    assert_error(await anonymous.stop("not-a-uuid"), 401, no_key)
    assert_error(await anonymous.stop("not-a-uuid", headers={"x-api-key": "wrong"}), 401, "Unauthorized")


async def test_existence_is_checked_before_ownership(api_b: RecoupClient):
    assert_error(await api_b.stop(UNKNOWN_CHAT), 404, "Chat not found")


async def test_body_that_is_not_utf8_is_400_not_500(api: RecoupClient):
    response = await api.request(
        "POST", "/api/chat", content=b'{"chatId": "\xf8"}', headers={"content-type": "application/json"}
    )
    assert_error(response, 400, "Request body must be UTF-8 encoded JSON")


ORG_SEED = {
    "accounts": [
        {"id": "label", "api_keys": ["label-key"], "acts_for": ["artist-a"]},
        *TEST_SEED["accounts"],
    ]
}


@pytest.mark.parametrize("route", ["stop", "stream"])
async def test_an_account_id_the_key_may_not_act_for_is_403_and_one_it_may_act_for_is_the_owner(
    route: str,
):
    app = create_app(TEST_CONFIG, ORG_SEED)
    await app.runtime.start()
    try:
        owner = asgi_client(app, KEY_A)
        chat = await owner.create_chat()
        method = "POST" if route == "stop" else "GET"
        path = f"/api/chat/{chat.chat_id}/{route}"
        # artist-b's key may not act for artist-a; the label's key may, and then owns the chat.
        other = await asgi_client(app, KEY_B).request(method, f"{path}?account_id=artist-a")
        assert other.status_code == 403
        assert other.json() == {"status": "error", "error": "Access denied to specified account_id"}
        label = asgi_client(app, "label-key")
        assert (await label.request(method, path)).status_code == 403, "without account_id: not its chat"
        acting = await label.request(method, f"{path}?account_id=artist-a")
        assert acting.status_code == (200 if route == "stop" else 204)
    finally:
        await app.runtime.close()
