"""The admin API: its own document, state inspection, reset, seed loading, and refusals that
leave the state as it was."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from connexion import AsyncApp
from openapi_spec_validator import validate

from contract_tests.client import ChatRef, RecoupClient
from mock_server.http.spec import load_document
from tests.conftest import KEY_A, TEST_SEED, AdminClient

BAD = {"fault": "?"}
CHAT = "66666666-6666-4666-8666-666666666666"
SESSION = "aaaaaaaa-0000-4000-8000-0000000000ff"
NEW_SEED = {
    "accounts": [
        {
            "id": "artist-z",
            "api_keys": ["key-z"],
            "sessions": [
                {
                    "id": SESSION,
                    "title": "Loaded",
                    "chats": [
                        {"id": CHAT, "title": "Slow stop", "generating": {"fault": "ignore-cancel"}},
                    ],
                }
            ],
        }
    ]
}


async def test_admin_document_is_its_own_and_valid(raw: httpx.AsyncClient):
    admin_doc = (await raw.get("/__mock/openapi.json")).json()
    contract = (await raw.get("/openapi.json")).json()
    validate(admin_doc)
    assert admin_doc["servers"] == [{"url": "/__mock"}]
    assert not set(admin_doc["paths"]) & set(contract["paths"])
    assert not any(path.startswith("/__mock") for path in contract["paths"])
    assert contract == load_document(), "the contract document is served unchanged"


async def test_state_lists_accounts_keys_chats_and_what_is_generating(
    admin: AdminClient, api: RecoupClient, chat: ChatRef
):
    await admin.generate(chat.chat_id, fault="cancel-fails")
    state = await admin.state()
    assert [(a["id"], a["apiKeys"]) for a in state["accounts"]] == [
        ("artist-a", [KEY_A]),
        ("artist-b", ["key-b"]),
    ]
    [session] = state["accounts"][0]["sessions"]
    assert session["id"] == chat.session_id
    [listed] = session["chats"]
    assert listed["id"] == chat.chat_id
    assert listed["generation"]["fault"] == "cancel-fails"
    [running] = state["generating"]
    assert running["chatId"] == chat.chat_id
    assert running["accountId"] == "artist-a"
    assert running["status"] == "running"


async def test_reset_returns_to_the_seed(admin: AdminClient, api: RecoupClient, chat: ChatRef):
    assert (await admin.state())["accounts"][0]["sessions"]
    response = await admin.request("POST", "/reset")
    assert response.status_code == 200
    assert response.json()["accounts"][0]["sessions"] == []
    assert (await api.request("GET", f"/api/sessions/{chat.session_id}/chats")).status_code == 404


async def test_load_seed_replaces_the_state_and_becomes_the_reset_target(admin: AdminClient, raw):
    response = await admin.request("PUT", "/seed", json=NEW_SEED)
    assert response.status_code == 200
    [account] = response.json()["accounts"]
    assert account["id"] == "artist-z"
    assert [g["chatId"] for g in response.json()["generating"]] == [CHAT]
    assert (await raw.post(f"/api/chat/{CHAT}/stop", headers={"x-api-key": KEY_A})).status_code == 401
    assert (await admin.request("GET", "/seed")).json() == NEW_SEED
    await admin.request("POST", "/reset")
    assert [a["id"] for a in (await admin.state())["accounts"]] == ["artist-z"]


@pytest.mark.parametrize(
    ("seed", "message"),
    [
        ({"accounts": [{"id": "x"}]}, "seed: $.accounts[0]: 'api_keys' is a required property"),
        ({"accounts": [{"id": "x", "api_keys": ["k", "k"]}]}, "seed: $.accounts[0].api_keys[1]: api key 'k'"),
        ({"acounts": []}, "'accounts' is a required property"),
        (
            {
                "accounts": [
                    {"id": "x", "api_keys": ["k"], "sessions": [{"chats": [{"generating": {"fault": "?"}}]}]}
                ]
            },
            "seed: $.accounts[0].sessions[0].chats[0].generating",
        ),
    ],
)
async def test_malformed_seed_is_refused_and_the_state_is_unchanged(admin: AdminClient, seed, message):
    before = await admin.state()
    response = await admin.request("PUT", "/seed", json=seed)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert message in response.json()["error"], response.json()
    assert await admin.state() == before
    assert (await admin.request("GET", "/seed")).json() == TEST_SEED


async def test_seed_that_is_not_json_is_refused(admin: AdminClient):
    response = await admin.request(
        "PUT", "/seed", content=b"accounts: [", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["status"] == "error"


async def test_generate_on_an_unknown_chat_is_404(admin: AdminClient):
    response = await admin.generate(CHAT)
    assert response.status_code == 404
    assert response.json() == {"status": "error", "error": "Chat not found"}


async def test_generate_on_a_generating_chat_is_409_and_keeps_the_first(
    admin: AdminClient, api: RecoupClient, chat: ChatRef
):
    first = (await admin.generate(chat.chat_id, fault="cancel-fails")).json()
    response = await admin.generate(chat.chat_id)
    assert response.status_code == 409
    assert response.json()["error"] == "The chat is already generating"
    assert (await admin.state())["generating"][0]["runId"] == first["runId"]


@pytest.mark.parametrize(
    ("body", "fault"),
    [
        ({"fault": "explode"}, "fault"),
        ({"repeat": "yes"}, "repeat"),
        ({"text": ""}, "text"),
        ({"colour": "red"}, "colour"),
        ({"parts": []}, "parts"),
        ({"parts": [{"type": "text", "text": "a"}], "text": "b"}, ""),
        (
            {"parts": [{"type": "tool", "name": "t", "input": {}, "seconds": 9999}]},
            "$.parts[0]: tool part.seconds",
        ),
        ({"parts": [{"type": "reasoning"}]}, "$.parts[0]: reasoning part: 'text' is a required property"),
    ],
)
async def test_generate_with_bad_options_is_400_and_starts_nothing(
    admin: AdminClient, chat: ChatRef, body: dict[str, Any], fault: str
):
    response = await admin.generate(chat.chat_id, **body)
    assert response.status_code == 400, response.text
    assert response.json()["status"] == "error"
    assert fault in response.json()["error"]
    assert (await admin.state())["generating"] == []


async def test_generate_streams_a_scripted_answer(admin: AdminClient, api: RecoupClient, chat: ChatRef):
    parts = [
        {"type": "reasoning", "text": "Let me check."},
        {"type": "tool", "name": "lookup", "input": {"q": 1}, "output": {"found": True}, "seconds": 0},
        {"type": "data", "name": "progress", "data": {"done": 1}},
        {"type": "text", "text": "Found it."},
    ]
    assert (await admin.generate(chat.chat_id, parts=parts)).status_code == 200
    log = await api.read_stream("GET", f"/api/chat/{chat.chat_id}/stream")
    assert log.text == "Found it."
    assert {"reasoning-delta", "tool-output-available", "data-progress", "finish"} <= set(log.types())


async def test_generate_on_a_non_uuid_is_400(admin: AdminClient):
    response = await admin.generate("not-a-uuid")
    assert response.status_code == 400
    assert response.json()["error"] == "chatId must be a valid UUID"


async def test_admin_routes_answer_405_with_allow(raw: httpx.AsyncClient):
    response = await raw.delete("/__mock/state")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.json()["status"] == "error"


async def test_generate_without_a_body_streams_the_chats_script_or_a_text_until_stopped(
    admin: AdminClient, api: RecoupClient, chat: ChatRef
):
    response = await admin.request("POST", f"/chats/{chat.chat_id}/generate")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "running"
    assert (await api.stop(chat.chat_id)).json() == {"success": True, "stopped": True}


async def test_state_pages_through_sessions_with_a_cursor(admin: AdminClient, api: RecoupClient):
    for n in range(5):
        await api.create_chat(f"page {n}")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await admin.request("GET", "/state", params=params)).json()
        seen += [s["id"] for a in page["accounts"] for s in a["sessions"]]
        assert page["sessions"] == 5
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5


@pytest.mark.parametrize("cursor", ["x", "-1", "1e3"])
async def test_a_cursor_the_api_did_not_give_is_400(admin: AdminClient, cursor: str):
    response = await admin.request("GET", "/state", params={"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["status"] == "error"


async def test_reading_a_large_state_does_not_stall_other_requests(
    admin: AdminClient, api: RecoupClient, app: AsyncApp
):
    service = app.runtime.service
    account = await service.authenticate(KEY_A)
    for _ in range(3000):
        await service.sessions.create_session(account)
    chat = await api.create_chat("answered meanwhile")
    order: list[str] = []

    async def read_state() -> None:
        await admin.request("GET", "/state", params={"limit": 10000})
        order.append("state")

    async def stop() -> None:
        await asyncio.sleep(0)
        await api.stop(chat.chat_id)
        order.append("stop")

    await asyncio.gather(read_state(), stop())
    assert order == ["stop", "state"], "the stop was answered while the state was being built"
