"""The request journal: what the app sent, how the mock answered, filterable, bounded."""

from __future__ import annotations

import httpx

from contract_tests.client import ChatRef, RecoupClient
from mock_server.config import Config
from mock_server.http.app import create_app
from tests.conftest import TEST_SEED, AdminClient

UNKNOWN_CHAT = "0b7a3c1e-9f0d-4c55-8e21-6a0f6d7e5b42"


async def test_journal_records_what_was_sent_and_answered(api: RecoupClient, admin: AdminClient):
    await api.request("POST", "/api/sessions?draft=1", json_body={"title": "Journalled"})
    [entry] = await admin.journal()
    assert entry["method"] == "POST"
    assert entry["path"] == "/api/sessions"
    assert entry["query"] == "draft=1"
    assert entry["headers"]["x-api-key"] == "<redacted>"
    assert entry["headers"]["content-type"] == "application/json"
    assert '"title": "Journalled"' in entry["body"] or '"title":"Journalled"' in entry["body"]
    assert entry["status"] == 200
    assert entry["operationId"] == "createSession"
    assert entry["validation"] == "passed"
    assert entry["error"] is None
    assert entry["durationMs"] is not None


async def test_journal_redacts_bearer_credentials(anonymous: RecoupClient, admin: AdminClient):
    await anonymous.stop(UNKNOWN_CHAT, headers={"Authorization": "Bearer key-a"})
    [entry] = await admin.journal()
    assert entry["headers"]["authorization"] == "<redacted>"


async def test_journal_tells_invalid_requests_with_the_error(api: RecoupClient, admin: AdminClient):
    await api.request("POST", "/api/chat", json_body={"chatId": UNKNOWN_CHAT})
    await api.stop("not-a-uuid")
    missing_body, bad_id = await admin.journal()
    assert missing_body["status"] == 400
    assert missing_body["validation"] == "failed"
    assert "required" in missing_body["error"]
    assert bad_id["validation"] == "failed"
    assert bad_id["error"] == "chatId must be a valid UUID"


async def test_a_body_checked_before_credentials_is_journalled_as_passed(
    anonymous: RecoupClient, admin: AdminClient
):
    # POST /api/chat/runs reads its body before the key, as the service does: valid, then 401.
    await anonymous.request("POST", "/api/chat/runs", json_body={"prompt": "hi"}, validate=False)
    [entry] = await admin.journal()
    assert (entry["status"], entry["validation"]) == (401, "passed")


async def test_journal_marks_chosen_responses_and_preflights(
    api: RecoupClient, raw: httpx.AsyncClient, admin: AdminClient
):
    await raw.options(
        f"/api/chat/{UNKNOWN_CHAT}/stop",
        headers={"Origin": "http://app.test", "Access-Control-Request-Method": "POST"},
    )
    await api.stop(UNKNOWN_CHAT, headers={"Prefer": "code=504"})
    preflight, chosen = await admin.journal()
    assert preflight["preflight"] is True
    assert preflight["status"] == 200
    assert preflight["method"] == "OPTIONS"
    assert chosen["chosen"] == "code=504"
    assert chosen["validation"] == "skipped"
    assert chosen["error"] == "Workflow did not terminate in time"


async def test_journal_filters(api: RecoupClient, admin: AdminClient, chat: ChatRef):
    await api.stop(chat.chat_id)
    await api.stop(UNKNOWN_CHAT)
    await api.chat_state(chat)
    everything = await admin.journal()
    assert [e["operationId"] for e in everything] == [
        "createSession",
        "stopChat",
        "stopChat",
        "getSessionChat",
    ]
    assert len(await admin.journal(method="post")) == 3
    assert len(await admin.journal(path="/api/chat/*/stop")) == 2
    assert [e["path"] for e in await admin.journal(path=f"/api/chat/{UNKNOWN_CHAT}/stop")] == [
        f"/api/chat/{UNKNOWN_CHAT}/stop"
    ]
    assert [e["status"] for e in await admin.journal(status=404)] == [404]
    assert len(await admin.journal(operationId="stopChat")) == 2
    assert len(await admin.journal(validation="passed")) == 4
    assert [e["id"] for e in await admin.journal(since=everything[1]["id"])] == [
        e["id"] for e in everything[2:]
    ]
    assert [e["id"] for e in await admin.journal(since=everything[2]["time"])] == [
        e["id"] for e in everything if e["time"] >= everything[2]["time"]
    ]
    assert [e["id"] for e in await admin.journal(limit=1)] == [everything[-1]["id"]]


async def test_journal_polling_with_last_id(api: RecoupClient, admin: AdminClient):
    first = (await admin.request("GET", "/journal")).json()
    assert first == {"entries": [], "lastId": 0}
    await api.stop(UNKNOWN_CHAT)
    page = (await admin.request("GET", "/journal", params={"since": 0})).json()
    assert len(page["entries"]) == 1
    again = (await admin.request("GET", "/journal", params={"since": page["lastId"]})).json()
    assert again == {"entries": [], "lastId": page["lastId"]}


async def test_journal_rejects_a_malformed_since(admin: AdminClient):
    response = await admin.request("GET", "/journal", params={"since": "yesterday"})
    assert response.status_code == 400
    assert "since='yesterday'" in response.json()["error"]


async def test_admin_requests_are_not_journalled_and_clear_empties_it(api: RecoupClient, admin: AdminClient):
    await api.stop(UNKNOWN_CHAT)
    await admin.state()
    assert len(await admin.journal()) == 1
    assert (await admin.request("DELETE", "/journal")).status_code == 204
    assert await admin.journal() == []


async def test_journal_keeps_only_the_newest_entries():
    app = create_app(Config(journal_size=3), TEST_SEED)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock") as http:
        for n in range(5):
            await http.get(f"/api/sessions/{n}/chats")
        entries = (await http.get("/__mock/journal")).json()["entries"]
    assert [e["path"] for e in entries] == [f"/api/sessions/{n}/chats" for n in (2, 3, 4)]
    await app.runtime.close()


async def test_running_stream_is_journalled_before_it_ends(live: RecoupClient, live_url: str):
    chat = await live.create_chat()
    async with (
        live.streaming("POST", "/api/chat", json=live.send_body(chat, "Watch")) as (_, chunks),
        httpx.AsyncClient(base_url=live_url) as http,
    ):
        async for _ in chunks:
            entries = (await http.get("/__mock/journal", params={"operationId": "sendChatMessage"})).json()
            [entry] = entries["entries"]
            assert entry["status"] == 200
            assert entry["durationMs"] is None
            await live.stop(chat.chat_id)
            break


async def test_two_apps_in_one_process_keep_their_own_journals():
    first, second = create_app(Config(), TEST_SEED), create_app(Config(), TEST_SEED)
    for app in (first, second):
        await app.runtime.start()
    transport = httpx.ASGITransport(app=second)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock") as http:
        await http.get("/api/nowhere")
    assert [e.path for e in second.runtime.journal.entries()] == ["/api/nowhere"]
    assert first.runtime.journal.entries() == []
    for app in (first, second):
        await app.runtime.close()
