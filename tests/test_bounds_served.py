"""Bounds that hold under concurrency on every store, as users run it: a served `recoup-mock serve`,
one process on memory and two workers on a real `redis-server`, flooded with concurrent creates."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from tests.mock_process import STORES, serving_on

MAX_CHATS = 40
KEY = "bounds-key"


def _count_chats(url: str) -> tuple[int, int]:
    state = httpx.get(f"{url}/__mock/state", params={"limit": 500}, timeout=30).json()
    sessions = [s for a in state["accounts"] for s in a["sessions"]]
    return len(sessions), sum(len(s["chats"]) for s in sessions)


async def _create_sessions(url: str, count: int) -> list[int]:
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(
        base_url=url, headers={"x-api-key": KEY}, timeout=60, limits=limits
    ) as client:
        answers = await asyncio.gather(*(client.post("/api/sessions", json={}) for _ in range(count)))
    return [answer.status_code for answer in answers]


@pytest.mark.parametrize("store", STORES)
def test_max_chats_holds_under_three_times_its_size_of_concurrent_creates(
    store: str, tmp_path: Path, request: pytest.FixtureRequest
):
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"accounts": [{"id": "bounds", "api_keys": [KEY]}]}))
    redis_url = None if store == "memory" else request.getfixturevalue("redis_url")
    with serving_on(store, redis_url, "--seed", str(seed), "--max-chats", str(MAX_CHATS)) as served:
        statuses = asyncio.run(_create_sessions(served.url, 3 * MAX_CHATS))
        assert statuses == [200] * (3 * MAX_CHATS), "every create evicts an idle chat at the bound"
        sessions, chats = _count_chats(served.url)
        assert chats == MAX_CHATS
        assert sessions == MAX_CHATS, "a session whose only chat was evicted goes with it"
        for _ in range(5):  # one at a time, past the bound: still the bound
            asyncio.run(_create_sessions(served.url, 1))
        assert _count_chats(served.url) == (MAX_CHATS, MAX_CHATS)
