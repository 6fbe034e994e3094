"""Bounds that hold under concurrency on every store, as users run it: a served `recoup-mock serve`,
one process on memory and two workers on a real `redis-server`, flooded with concurrent creates."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from pathlib import Path

import httpx
import pytest

from contract_judge.bodies import error_body_problem
from tests.mock_process import STORES, Served, serving_on

MAX_CHATS = 40
KEY = "bounds-key"
MAX_STORE_BYTES = 2 * 1024 * 1024
LARGE = 200 * 1024
"""A message's text: a flood of three budgets of them is sent at once."""
FLOODED_CHATS = 3 * MAX_STORE_BYTES // LARGE


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


@pytest.fixture
def bounded(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[..., ContextManager[Served]]:
    """`recoup-mock serve FLAGS` on a store of `STORES`, with one account of `KEY` and nothing else."""
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"accounts": [{"id": "bounds", "api_keys": [KEY]}]}))

    def serve(store: str, *flags: str) -> ContextManager[Served]:
        redis_url = None if store == "memory" else request.getfixturevalue("redis_url")
        return serving_on(store, redis_url, "--seed", str(seed), *flags)

    return serve


@pytest.mark.parametrize("store", STORES)
def test_max_chats_holds_under_three_times_its_size_of_concurrent_creates(
    store: str, bounded: Callable[..., ContextManager[Served]]
):
    with bounded(store, "--max-chats", str(MAX_CHATS)) as served:
        statuses = asyncio.run(_create_sessions(served.url, 3 * MAX_CHATS))
        assert statuses == [200] * (3 * MAX_CHATS), "every create evicts an idle chat at the bound"
        sessions, chats = _count_chats(served.url)
        assert chats == MAX_CHATS
        assert sessions == MAX_CHATS, "a session whose only chat was evicted goes with it"
        for _ in range(5):  # one at a time, past the bound: still the bound
            asyncio.run(_create_sessions(served.url, 1))
        assert _count_chats(served.url) == (MAX_CHATS, MAX_CHATS)


def _store_use(url: str) -> dict[str, int]:
    use: dict[str, int] = httpx.get(f"{url}/__mock/state", params={"limit": 1}, timeout=30).json()["store"]
    return use


async def _flood(url: str, chats: list[tuple[str, str]]) -> list[httpx.Response]:
    """A large message to each chat at once, each answer read to its end (or its refusal)."""
    limits = httpx.Limits(max_connections=len(chats))
    async with httpx.AsyncClient(
        base_url=url, headers={"x-api-key": KEY}, timeout=60, limits=limits
    ) as client:

        async def send(session_id: str, chat_id: str) -> httpx.Response:
            message = {"id": "m", "role": "user", "parts": [{"type": "text", "text": "x" * LARGE}]}
            body = {"sessionId": session_id, "chatId": chat_id, "messages": [message]}
            answer = await client.post("/api/chat", json=body)
            await answer.aread()
            return answer

        return await asyncio.gather(*(send(session_id, chat_id) for session_id, chat_id in chats))


async def _new_chats(url: str, count: int) -> list[tuple[str, str]]:
    async with httpx.AsyncClient(base_url=url, headers={"x-api-key": KEY}, timeout=60) as client:
        made = [(await client.post("/api/sessions", json={})).json() for _ in range(count)]
    return [(m["session"]["id"], m["chat"]["id"]) for m in made]


@pytest.mark.parametrize("store", STORES)
def test_the_byte_budget_holds_under_a_flood_of_large_messages(
    store: str, bounded: Callable[..., ContextManager[Served]]
):
    pacing = ("--first-token-delay", "0.5", "--tokens-per-second", "200")  # answers last a while
    with bounded(store, "--max-store-bytes", str(MAX_STORE_BYTES), *pacing) as served:
        chats = asyncio.run(_new_chats(served.url, FLOODED_CHATS))
        answers = asyncio.run(_flood(served.url, chats))
        use = _store_use(served.url)
        assert use["maxBytes"] == MAX_STORE_BYTES
        assert use["bytes"] <= MAX_STORE_BYTES
        statuses = sorted({answer.status_code for answer in answers})
        assert statuses == [200, 507], "while the chats answer none can be evicted: the rest is refused"
        for refused in (answer for answer in answers if answer.status_code == 507):
            problem = error_body_problem(507, refused.headers["content-type"], refused.content)
            assert problem is None, problem
            assert refused.headers["retry-after"] == "1"
            assert "--max-store-bytes" in refused.json()["error"]
        # Once the answers have ended, their chats are idle: a new flood evicts them to make room.
        again = asyncio.run(_flood(served.url, asyncio.run(_new_chats(served.url, 3))))
        assert [answer.status_code for answer in again] == [200] * 3
        assert _store_use(served.url)["bytes"] <= MAX_STORE_BYTES
