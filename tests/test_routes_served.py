"""The session, chat and run routes over a real socket, on `recoup-mock serve` as users start it:
on the memory store, and on two workers over a real `redis-server` (where each request may reach
either process)."""

from __future__ import annotations

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
