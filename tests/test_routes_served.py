"""The session, chat and run routes over a real socket, on `recoup-mock serve` as users start it:
on the memory store, and on two workers over a real `redis-server` (where each request may reach
either process)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.mock_process import STORES, Served, serving_on

KEY_A, KEY_B = "demo-key-a", "demo-key-b"
PACING = ("--first-token-delay", "0.05", "--tokens-per-second", "200", "--tool-seconds", "5")


@pytest.fixture(scope="module", params=STORES)
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    redis_url = None if request.param == "memory" else request.getfixturevalue("redis_url")
    with serving_on(request.param, redis_url, *PACING) as served:
        yield served


@pytest.fixture
def a(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, headers={"x-api-key": KEY_A}, timeout=30) as client:
        yield client


@pytest.fixture
def b(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, headers={"x-api-key": KEY_B}, timeout=30) as client:
        yield client


def test_a_session_and_its_chats_change_as_the_frontend_changes_them(a: httpx.Client, b: httpx.Client):
    created = a.post("/api/sessions", json={}).json()
    session, first = created["session"]["id"], created["chat"]["id"]
    base = f"/api/sessions/{session}"
    second = a.post(f"{base}/chats", json={}).json()["chat"]["id"]
    assert a.patch(f"{base}/chats/{second}", json={"title": "Tour"}).json()["chat"]["title"] == "Tour"
    assert b.patch(f"{base}/chats/{second}", json={"title": "Mine"}).status_code == 403
    assert a.patch(base, json={"status": "archived"}).json()["session"]["lifecycleState"] == "archived"
    assert a.get(base).json()["session"]["status"] == "archived"
    assert a.post(f"{base}/chats/{first}/read").json() == {"success": True}
    assert a.delete(f"{base}/chats/{first}").json() == {"success": True}
    only = a.delete(f"{base}/chats/{second}")
    assert (only.status_code, only.json()["error"]) == (400, "Cannot delete the only chat in a session")
    listed = a.get(f"{base}/chats").json()["chats"]
    assert [(c["id"], c["title"]) for c in listed] == [(second, "Tour")]


def test_a_headless_run_is_resumed_stopped_and_reported_by_either_process(a: httpx.Client):
    started = a.post("/api/chat/runs", json={"prompt": "Plan my tour"})
    assert started.status_code == 202
    run, chat = started.json()["runId"], started.json()["chatId"]
    assert a.get(started.headers["location"]).json() == {"runId": run, "status": "running"}
    with a.stream("GET", f"/api/chat/{chat}/stream") as stream:
        assert stream.headers["x-workflow-run-id"] == run
        lines = stream.iter_lines()
        assert next(line for line in lines if line.startswith("data:"))
        assert a.post(f"/api/chat/{chat}/stop").json() == {"success": True, "stopped": True}
        rest = [line for line in lines if line.startswith("data:")]
    assert rest[-3:] == ['data: {"type":"abort"}', 'data: {"type":"finish"}', "data: [DONE]"]
    deadline = time.monotonic() + 10
    while (
        state := a.get(f"/api/chat/runs/{run}").json()["status"]
    ) == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state == "cancelled"


def test_a_refused_chat_id_is_answered_without_status_as_the_service_does(a: httpx.Client):
    created = a.post("/api/sessions", json={}).json()
    chats = f"/api/sessions/{created['session']['id']}/chats"
    for body in ({"id": 5}, {"id": ""}, {"id": None}, {"id": "not-a-uuid"}):
        refused = a.post(chats, json=body)
        assert (refused.status_code, refused.json()) == (400, {"error": "Invalid chat id"}), body
    other = a.post("/api/sessions", json={}).json()
    conflict = a.post(chats, json={"id": other["chat"]["id"]})
    assert (conflict.status_code, conflict.json()) == (409, {"error": "Chat ID conflict"})


def test_a_session_or_chat_created_from_a_body_that_is_not_json_is_made_as_if_empty(a: httpx.Client):
    # safeParseJson: the service reads a body it cannot parse as {} on these two routes.
    json_type = {"content-type": "application/json"}
    created = a.post("/api/sessions", content=b"{not json", headers=json_type)
    assert created.status_code == 200, created.text
    chats = f"/api/sessions/{created.json()['session']['id']}/chats"
    for body in (b"{not json", b"[1, 2]", b'"text"', b" ", b"\x00"):
        assert a.post(chats, content=body, headers=json_type).status_code == 200, body
    listed = a.get(chats).json()["chats"]
    assert len(listed) == 6
    with_mark = a.post("/api/sessions", content=b'\xef\xbb\xbf{"title": "Marked"}', headers=json_type)
    assert with_mark.json()["session"]["title"] == "Marked", "request.json() drops a byte order mark"
    not_an_object = a.post("/api/sessions", content=b"[1]", headers=json_type)
    assert not_an_object.status_code == 400, "JSON, but not an object"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/chat", b"{not json"),
        ("/api/chat", b'{"messages": []}'),
        ("/api/chat/runs", b'{"prompt": 5}'),
        ("/api/sessions", b'{"artistId": "not-a-uuid"}'),
    ],
)
def test_a_bad_body_is_400_before_credentials_where_the_service_reads_it_first(
    served: Served, path: str, body: bytes
):
    for headers in ({}, {"x-api-key": "unknown-key"}):
        response = httpx.post(
            served.url + path, content=body, headers={**headers, "content-type": "application/json"}
        )
        assert response.status_code == 400, (headers, response.text)
        assert response.json()["status"] == "error"
    assert httpx.post(served.url + path, json={}).status_code in (400, 401)


def test_credentials_come_before_the_body_on_the_other_routes(a: httpx.Client, served: Served):
    session = a.post("/api/sessions", json={}).json()["session"]["id"]
    response = httpx.patch(f"{served.url}/api/sessions/{session}", content=b"{not json")
    assert response.status_code == 401
    malformed = a.patch(f"/api/sessions/{session}", content=b"{not json")
    assert (malformed.status_code, malformed.json()["error"]) == (400, "Invalid JSON body")


def test_concurrent_changes_to_one_session_are_all_kept(a: httpx.Client, served: Served):
    created = a.post("/api/sessions", json={}).json()
    base = f"/api/sessions/{created['session']['id']}"

    async def change_all() -> None:
        async with httpx.AsyncClient(base_url=served.url, headers={"x-api-key": KEY_A}) as client:
            await asyncio.gather(
                client.patch(base, json={"title": "Renamed"}),
                client.patch(base, json={"linesAdded": 7}),
                client.patch(base, json={"linesRemoved": 3}),
                client.patch(base, json={"status": "archived"}),
            )

    asyncio.run(change_all())
    session = a.get(base).json()["session"]
    assert (session["title"], session["linesAdded"], session["linesRemoved"], session["status"]) == (
        "Renamed",
        7,
        3,
        "archived",
    )
