"""`recoup-mock proxy --record`: what passed through is served again by the mock, chunk for chunk
at its recorded pace, its replies in order, stopped as any answer is; no real key is written."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from mock_server.config import Config
from mock_server.domain.seed import read_seed_file
from mock_server.http.app import create_app
from tests.conftest import KEY_A
from tests.contract_runs import mock_served, served
from tests.test_proxy import proxying

PACED = Config(first_token_delay=0.15, tokens_per_second=40, tool_seconds=0.4, log_level="warning")
SHORT = [
    {"type": "reasoning", "text": "Look it up first."},
    {"type": "tool", "name": "lookup", "input": {"q": "tour"}, "output": {"dates": 3}},
    {"type": "text", "text": "The tour has three dates, all in spring, and Berlin opens it."},
]
SEED = {"answer": SHORT, "accounts": [{"id": "artist-a", "api_keys": [KEY_A]}]}
TOLERANCE = 0.25
"""Seconds a replayed chunk may arrive off its recorded time, each measured by a client on a
machine the other tests load (the replay keeps to the recorded schedule, so it does not drift)."""


def message(text: str) -> dict[str, Any]:
    return {"id": f"m-{text}", "role": "user", "parts": [{"type": "text", "text": text}]}


async def timed_answer(
    client: httpx.AsyncClient,
    key: str,
    session_id: str,
    chat_id: str,
    text: str,
    *,
    stop_at: str | None = None,
) -> list[tuple[float, dict[str, Any]]]:
    """The answer's chunks, each with the seconds since the request was sent; `stop_at`: the chat
    is stopped once a chunk of that type has come."""
    body = {"sessionId": session_id, "chatId": chat_id, "messages": [message(text)]}
    sent = time.monotonic()
    chunks = []
    async with client.stream("POST", "/api/chat", json=body, headers={"x-api-key": key}) as answer:
        assert answer.status_code == 200, await answer.aread()
        async for line in answer.aiter_lines():
            if line.startswith("data: {"):
                chunk = json.loads(line[6:])
                chunks.append((time.monotonic() - sent, chunk))
                if chunk["type"] == stop_at:
                    stop_at = None
                    await client.post(f"/api/chat/{chat_id}/stop", headers={"x-api-key": key})
    return chunks


@asynccontextmanager
async def recording(upstream: str, path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with proxying(upstream, record=path) as (client, _):
        yield client


@asynccontextmanager
async def replaying(path: Path, **config: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(replace(PACED, **config), read_seed_file(path))
    await app.runtime.start()
    try:
        async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield client
    finally:
        await app.runtime.close()


def without_ids(chunks: list[tuple[float, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in chunk.items() if k != "messageId"} for _, chunk in chunks]


async def record_two_answers(tmp_path: Path) -> tuple[Path, str, str, list[Any], list[Any]]:
    path = tmp_path / "recorded.json"
    async with mock_served(PACED, SEED) as upstream, recording(upstream, path) as client:
        created = (
            await client.post("/api/sessions", json={"title": "tour"}, headers={"x-api-key": KEY_A})
        ).json()
        session_id, chat_id = created["session"]["id"], created["chat"]["id"]
        first = await timed_answer(client, KEY_A, session_id, chat_id, "dates?")
        second = await timed_answer(client, KEY_A, session_id, chat_id, "again", stop_at="tool-input-start")
    return path, session_id, chat_id, first, second


async def test_a_recorded_answer_replays_chunk_for_chunk_at_its_pace_and_its_replies_in_order(tmp_path: Path):
    path, session_id, chat_id, first, second = await record_two_answers(tmp_path)
    text = path.read_text()
    assert KEY_A not in text, "the real key is never written"
    seed = json.loads(text)
    (account,) = seed["accounts"]
    new_key = account["api_keys"][0]
    (session,) = account["sessions"]
    assert session["id"] == session_id and session["title"] == "tour"
    assert [chat["id"] for chat in session["chats"]] == [chat_id]
    async with replaying(path) as client:
        replayed = await timed_answer(client, new_key, session_id, chat_id, "anything")
        stopped_again = await timed_answer(client, new_key, session_id, chat_id, "anything else")
    assert without_ids(replayed) == without_ids(first)
    assert without_ids(stopped_again) == without_ids(second), "the second message gets the second reply"
    assert [c["type"] for _, c in second][-2:] == ["abort", "finish"]
    offsets = [
        (at - replayed[0][0], was - first[0][0]) for (at, _), (was, _) in zip(replayed, first, strict=True)
    ]
    worst = max(abs(now - then) for now, then in offsets)
    assert worst <= TOLERANCE, f"a chunk replayed {worst:.3f} s off its recorded time"
    assert first[-1][0] - first[0][0] > 1.0, "the recording has a pace to keep"


async def test_a_stop_cuts_a_replay_as_any_answer_and_the_replay_speed_scales_it(tmp_path: Path):
    path, session_id, chat_id, first, second = await record_two_answers(tmp_path)
    new_key = json.loads(path.read_text())["accounts"][0]["api_keys"][0]
    assert "abort" not in [chunk["type"] for _, chunk in first], "the first reply was recorded whole"
    async with replaying(path, replay_speed=2.0) as client:
        cut = await timed_answer(client, new_key, session_id, chat_id, "one", stop_at="tool-input-delta")
        fast = await timed_answer(client, new_key, session_id, chat_id, "two")
    kinds = [chunk["type"] for _, chunk in cut]
    assert kinds[-2:] == ["abort", "finish"] and "text-start" not in kinds, "the stop cut the first reply"
    call = next(chunk["toolCallId"] for _, chunk in cut if chunk["type"] == "tool-input-start")
    cancelled = {"type": "tool-output-error", "toolCallId": call, "errorText": "Cancelled"}
    assert cancelled in [chunk for _, chunk in cut], "the open tool call is cancelled"
    assert without_ids(fast) == without_ids(second), "the second message still gets the second reply"
    recorded, replayed = second[-1][0] - second[0][0], fast[-1][0] - fast[0][0]
    assert abs(replayed - recorded / 2) <= TOLERANCE, (recorded, replayed)


async def test_a_canned_answer_chosen_by_prefer_is_not_recorded(tmp_path: Path):
    path = tmp_path / "recorded.json"
    canned = {"x-api-key": KEY_A, "prefer": "code=200"}
    async with mock_served(PACED, SEED) as upstream, recording(upstream, path) as client:
        assert (await client.post("/api/sessions", json={}, headers=canned)).status_code == 200
        real = (await client.post("/api/sessions", json={}, headers={"x-api-key": KEY_A})).json()
    (account,) = read_seed_file(path)["accounts"]
    assert [s["id"] for s in account["sessions"]] == [real["session"]["id"]], (
        "only the state the upstream holds"
    )
