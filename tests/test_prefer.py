"""Chosen responses: `Prefer: code=…` answers any documented status with no set-up, `delay` and
`--latency` add latency, and an unknown or undocumented choice is a clear 400."""

from __future__ import annotations

import time

import httpx
import pytest

from contract_tests.client import ChatRef, RecoupClient
from mock_server.config import Config
from mock_server.http.app import create_app
from tests.conftest import TEST_SEED, AdminClient, asgi_client

UNKNOWN_CHAT = "0b7a3c1e-9f0d-4c55-8e21-6a0f6d7e5b42"

STOP_ANSWERS = {
    200: {"success": True, "stopped": True},
    400: {"status": "error", "error": "chatId must be a valid UUID", "missing_fields": []},
    401: {"status": "error", "error": "Exactly one of x-api-key or Authorization must be provided"},
    403: {"status": "error", "error": "Forbidden"},
    404: {"status": "error", "error": "Chat not found"},
    502: {"status": "error", "error": "Failed to stop the workflow"},
    504: {"status": "error", "error": "Workflow did not terminate in time"},
}


@pytest.mark.parametrize("code", sorted(STOP_ANSWERS))
async def test_prefer_code_answers_each_documented_stop_status(api: RecoupClient, code: int):
    # The client checks the answer against the contract: status documented, body valid for it.
    response = await api.stop(UNKNOWN_CHAT, headers={"Prefer": f"code={code}"})
    assert response.status_code == code
    assert response.headers["content-type"] == "application/json"
    assert response.json() == STOP_ANSWERS[code]


async def test_prefer_code_needs_no_credentials_and_no_data(anonymous: RecoupClient):
    response = await anonymous.stop(UNKNOWN_CHAT, headers={"Prefer": "code=504"})
    assert response.status_code == 504


async def test_prefer_code_changes_no_state(api: RecoupClient, chat: ChatRef, admin: AdminClient):
    await admin.generate(chat.chat_id)
    response = await api.stop(chat.chat_id, headers={"Prefer": "code=200"})
    assert response.json() == {"success": True, "stopped": True}
    assert (await api.chat_state(chat))["isStreaming"] is True


async def test_prefer_code_works_on_every_operation(api: RecoupClient, chat: ChatRef):
    created = await api.request("POST", "/api/sessions", headers={"Prefer": "code=200"})
    assert set(created.json()) == {"session", "chat"}
    listed = await api.request("GET", f"/api/sessions/{UNKNOWN_CHAT}/chats", headers={"Prefer": "code=404"})
    assert listed.json()["error"] == "Session not found"
    busy = await api.request(
        "POST", "/api/chat", json_body=api.send_body(chat, "x"), headers={"Prefer": "code=409"}
    )
    assert busy.json()["error"] == "Another workflow is already running for this chat"
    resumed = await api.request("GET", f"/api/chat/{UNKNOWN_CHAT}/stream", headers={"Prefer": "code=204"})
    assert resumed.status_code == 204
    assert resumed.content == b""


async def test_prefer_code_200_on_send_is_a_finished_stream(api: RecoupClient, chat: ChatRef):
    log = await api.read_stream(
        "POST", "/api/chat", json=api.send_body(chat, "Hi"), headers={"Prefer": "code=200"}
    )
    assert log.status_code == 200
    assert log.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert log.headers["x-workflow-run-id"]
    assert log.types()[0] == "start" and log.types()[-1] == "finish"
    assert log.done
    assert (await api.chat_state(chat))["messages"] == []


@pytest.mark.parametrize(
    ("prefer", "message"),
    [
        ("code=418", "Prefer: code=418 is not a documented response of stopChat"),
        ("code=409", "Prefer: code=409 is not a documented response of stopChat"),
        ("code=abc", "Prefer: code='abc' is not an HTTP status code"),
        ("status=404", "Prefer: unsupported preference 'status'"),
        ("example=x", "Prefer: unsupported preference 'example'"),
        ("delay=soon", "Prefer: delay='soon' must be milliseconds"),
        ("delay=999999999", "Prefer: delay='999999999' must be milliseconds"),
    ],
)
async def test_unknown_or_undocumented_choice_is_a_clear_400(api: RecoupClient, prefer: str, message: str):
    response = await api.stop(UNKNOWN_CHAT, headers={"Prefer": prefer})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["status"] == "error"
    assert response.json()["error"].startswith(message), response.json()


async def test_undocumented_choice_lists_the_documented_statuses(api: RecoupClient):
    response = await api.stop(UNKNOWN_CHAT, headers={"Prefer": "code=418"})
    assert "(documented: 200, 400, 401, 403, 404, 502, 503, 504)" in response.json()["error"]


async def test_prefer_parameters_and_quoting_follow_rfc_7240(api: RecoupClient):
    response = await api.stop(UNKNOWN_CHAT, headers={"Prefer": 'delay="0"; x=1, code="403"'})
    assert response.status_code == 403


async def test_prefer_delay_adds_latency(api: RecoupClient):
    started = time.monotonic()
    response = await api.stop(UNKNOWN_CHAT, headers={"Prefer": "delay=300"})
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 404


async def test_prefer_delay_combines_with_code(api: RecoupClient):
    started = time.monotonic()
    response = await api.stop(UNKNOWN_CHAT, headers={"Prefer": "code=502, delay=200"})
    assert time.monotonic() - started >= 0.2
    assert response.status_code == 502


async def test_latency_setting_delays_api_answers_but_not_the_admin_api():
    app = create_app(Config(latency=0.3), TEST_SEED)
    client = asgi_client(app, "key-a")
    started = time.monotonic()
    assert (await client.stop(UNKNOWN_CHAT)).status_code == 404
    assert time.monotonic() - started >= 0.3
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock") as http:
        started = time.monotonic()
        assert (await http.get("/__mock/state")).status_code == 200
        assert time.monotonic() - started < 0.3
    await client.http.aclose()
    await app.runtime.close()


async def test_a_chosen_answer_says_it_was_chosen(anonymous: RecoupClient):
    stop = "/api/chat/22222222-2222-4222-8222-222222222222/stop"
    chosen = await anonymous.request("POST", stop, headers={"prefer": "code=200, delay=10"})
    assert chosen.json() == {"success": True, "stopped": True}
    assert chosen.headers["preference-applied"] == "code=200, delay=10"
    real = await anonymous.request("POST", stop, validate=False)
    assert "preference-applied" not in real.headers
