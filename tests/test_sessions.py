"""The session and chat routes the Recoup frontend calls, as the service's handlers answer them
(`lib/sessions/**`): reading and changing a session, renaming and deleting a chat, read marks.

Every answer is also checked against the served contract (`RecoupClient.request` validates it).
"""

from __future__ import annotations

import asyncio

import pytest

from contract_tests.client import ChatRef, RecoupClient
from mock_server.domain.city_names import CITY_NAMES, city_title
from tests.conftest import AdminClient

UNKNOWN = "0b7a3c1e-9f0d-4c55-8e21-6a0f6d7e5b42"


def session_path(chat: ChatRef) -> str:
    return f"/api/sessions/{chat.session_id}"


def chat_path(chat: ChatRef) -> str:
    return f"/api/sessions/{chat.session_id}/chats/{chat.chat_id}"


async def answered_chat(api: RecoupClient) -> ChatRef:
    chat = await api.create_chat()
    assert (await api.send(chat, "hello")).status_code == 200
    return chat


async def second_chat(api: RecoupClient, chat: ChatRef) -> ChatRef:
    response = await api.request("POST", f"{session_path(chat)}/chats", json_body={})
    return ChatRef(chat.session_id, response.json()["chat"]["id"])


# Sessions


async def test_a_session_reads_in_the_services_shape(api: RecoupClient, chat: ChatRef):
    response = await api.request("GET", session_path(chat))
    assert response.status_code == 200
    session = response.json()["session"]
    assert session["id"] == chat.session_id
    assert session["userId"] == session["accountId"] == "artist-a"
    assert (session["status"], session["lifecycleState"], session["linesAdded"]) == (
        "running",
        "provisioning",
        None,
    )


@pytest.mark.parametrize("method", ["GET", "PATCH"])
async def test_a_session_is_404_unknown_403_foreign_400_malformed(
    api: RecoupClient, api_b: RecoupClient, chat: ChatRef, method: str
):
    body = {"title": "mine now"} if method == "PATCH" else None
    assert (await api.request(method, f"/api/sessions/{UNKNOWN}", json_body=body)).json()["error"] == (
        "Session not found"
    )
    foreign = await api_b.request(method, session_path(chat), json_body=body)
    assert (foreign.status_code, foreign.json()["error"]) == (403, "Forbidden")
    assert (await api.request(method, "/api/sessions/not-a-uuid", json_body=body)).status_code == 400
    assert (await api.request("GET", session_path(chat))).json()["session"]["title"] == "contract"


def test_a_city_title_is_one_not_used_yet_then_a_numbered_one():
    assert city_title(set(CITY_NAMES[1:])) == CITY_NAMES[0]
    every_one = set(CITY_NAMES)
    base, number = city_title(every_one).rsplit(" ", 1)
    assert base in CITY_NAMES and number == "2"
    assert city_title(every_one | {f"{city} 2" for city in CITY_NAMES}).endswith(" 3")


async def test_a_session_without_a_title_gets_a_city_not_used_yet(api: RecoupClient):
    titles = []
    for _ in range(5):
        response = await api.request("POST", "/api/sessions", json_body={"title": "  "})
        titles.append(response.json()["session"]["title"])
    assert all(title in CITY_NAMES for title in titles)
    assert len(set(titles)) == 5


async def test_archiving_a_session_sets_its_lifecycle_and_unarchiving_clears_it(
    api: RecoupClient, chat: ChatRef
):
    archived = (await api.request("PATCH", session_path(chat), json_body={"status": "archived"})).json()
    assert (archived["session"]["status"], archived["session"]["lifecycleState"]) == ("archived", "archived")
    body = {"status": "running", "title": "Back", "linesAdded": 3}
    back = (await api.request("PATCH", session_path(chat), json_body=body)).json()["session"]
    assert (back["status"], back["lifecycleState"], back["title"], back["linesAdded"]) == (
        "running",
        None,
        "Back",
        3,
    )
    assert back["updatedAt"] >= archived["session"]["updatedAt"]


async def test_a_patch_with_nothing_to_change_answers_the_session_as_it_is(api: RecoupClient, chat: ChatRef):
    before = (await api.request("GET", session_path(chat))).json()
    for body in (None, {}):
        response = await api.request("PATCH", session_path(chat), json_body=body)
        assert response.status_code == 200 and response.json() == before


async def test_a_session_status_outside_its_four_is_400(api: RecoupClient, chat: ChatRef):
    response = await api.request("PATCH", session_path(chat), json_body={"status": "paused"}, validate=False)
    assert response.status_code == 400


# Chats


async def test_a_chat_is_renamed_trimmed_and_stamped(api: RecoupClient, chat: ChatRef):
    before = (await api.request("GET", chat_path(chat))).json()["chat"]
    await asyncio.sleep(0.002)  # a new millisecond for the stamp
    response = await api.request("PATCH", chat_path(chat), json_body={"title": "  Tour plans "})
    assert response.status_code == 200
    renamed = response.json()["chat"]
    assert (renamed["title"], renamed["modelId"]) == ("Tour plans", before["modelId"])
    assert renamed["updatedAt"] > before["updatedAt"]
    remodelled = (await api.request("PATCH", chat_path(chat), json_body={"modelId": "other"})).json()["chat"]
    assert (remodelled["title"], remodelled["modelId"]) == ("Tour plans", "other")
    assert (await api.request("GET", chat_path(chat))).json()["chat"] == remodelled


@pytest.mark.parametrize("body", [{}, {"title": " "}, {"modelId": ""}, {"title": "x", "color": "red"}])
async def test_a_rename_without_a_field_to_change_or_with_a_blank_one_is_400(
    api: RecoupClient, chat: ChatRef, body: dict[str, str]
):
    response = await api.request("PATCH", chat_path(chat), json_body=body, validate=False)
    assert response.status_code == 400 and response.json()["status"] == "error"


@pytest.mark.parametrize("route", ["GET", "PATCH", "DELETE", "read"])
async def test_a_chat_route_checks_the_session_then_the_chat_in_it(
    api: RecoupClient, api_b: RecoupClient, chat: ChatRef, route: str
):
    method, suffix = ("POST", "/read") if route == "read" else (route, "")
    body = {"title": "x"} if method == "PATCH" else None
    other = await api.create_chat()
    await second_chat(api, chat)  # so that a delete is not refused as the session's last chat
    cases = [
        (api_b, chat_path(chat), 403, "Forbidden"),
        (api, f"/api/sessions/{UNKNOWN}/chats/{chat.chat_id}", 404, "Session not found"),
        (api, f"/api/sessions/{chat.session_id}/chats/{UNKNOWN}", 404, "Chat not found"),
        # A chat of the caller's, named under another of its sessions: not found there.
        (api, f"/api/sessions/{other.session_id}/chats/{chat.chat_id}", 404, "Chat not found"),
    ]
    for client, path, status, error in cases:
        response = await client.request(method, path + suffix, json_body=body)
        assert (response.status_code, response.json()["error"]) == (status, error), path
    state = (await api.request("GET", chat_path(chat))).json()
    assert state["chat"]["title"] == "New chat", "nothing changed"


async def test_deleting_a_chat_forgets_it_but_never_a_sessions_only_chat(api: RecoupClient, chat: ChatRef):
    only = await api.request("DELETE", chat_path(chat))
    assert only.status_code == 400
    assert only.json() == {"status": "error", "error": "Cannot delete the only chat in a session"}
    extra = await second_chat(api, chat)
    response = await api.request("DELETE", chat_path(extra))
    assert (response.status_code, response.json()) == (200, {"success": True})
    assert (await api.request("GET", chat_path(extra))).status_code == 404
    listed = (await api.request("GET", f"{session_path(chat)}/chats")).json()["chats"]
    assert [c["id"] for c in listed] == [chat.chat_id]


async def test_deleting_a_chat_stops_its_running_answer(live: RecoupClient, admin: AdminClient):
    api = live  # over a socket: an in-process client reads a stream only once it has ended
    extra = await second_chat(api, await api.create_chat())
    long_tool = [{"type": "tool", "name": "lookup", "input": {}, "output": {}, "seconds": 30}]
    assert (await admin.generate(extra.chat_id, parts=long_tool)).status_code == 200
    async with api.streaming("GET", f"/api/chat/{extra.chat_id}/stream") as (log, chunks):
        await anext(chunks)
        assert (await api.request("DELETE", chat_path(extra))).status_code == 200
        rest = [c["type"] async for c in chunks]
    assert rest[-2:] == ["abort", "finish"] and log.done


async def test_a_session_lists_its_chats_oldest_first_with_the_default_model(
    api: RecoupClient, chat: ChatRef
):
    extra = await second_chat(api, chat)
    listed = (await api.request("GET", f"{session_path(chat)}/chats")).json()
    assert [c["id"] for c in listed["chats"]] == [chat.chat_id, extra.chat_id]
    assert listed["defaultModelId"] == "recoup-mock-1"


# Read marks


async def unread(api: RecoupClient, chat: ChatRef) -> bool:
    listed = (await api.request("GET", f"{session_path(chat)}/chats")).json()["chats"]
    [summary] = [c for c in listed if c["id"] == chat.chat_id]
    return bool(summary["hasUnread"])


async def test_an_answer_is_unread_until_the_chat_is_marked_read(api: RecoupClient):
    chat = await api.create_chat()
    assert not await unread(api, chat), "no answer yet"
    assert (await api.send(chat, "hello")).status_code == 200
    assert await unread(api, chat)
    marked = await api.request("POST", f"{chat_path(chat)}/read")
    assert (marked.status_code, marked.json()) == (200, {"success": True})
    assert not await unread(api, chat)
    await asyncio.sleep(0.002)
    assert (await api.send(chat, "again")).status_code == 200
    assert await unread(api, chat), "a newer answer is unread again"


async def test_another_account_cannot_mark_a_chat_read(api: RecoupClient, api_b: RecoupClient):
    chat = await answered_chat(api)
    assert (await api_b.request("POST", f"{chat_path(chat)}/read")).status_code == 403
    assert await unread(api, chat)


async def test_a_session_in_an_organization_the_account_is_not_in_is_403(api: RecoupClient):
    body = {"organizationId": "aaaaaaaa-0000-4000-8000-000000000009"}
    response = await api.request("POST", "/api/sessions", json_body=body)
    assert (response.status_code, response.json()["error"]) == (
        403,
        "Access denied to specified organization_id",
    )
