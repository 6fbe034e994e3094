"""Two `recoup-mock serve` processes on one real Redis behave as one mock: what one starts, the
other stops, resumes and sees; the seed is loaded once; a reset reaches both; and a Redis that
goes away and comes back is survived (a process killed mid-answer: `test_leases_served`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.mock_process import Served, mock_process
from tests.redis_server import start_redis

KEY = {"x-api-key": "demo-key-a"}
IDLE = "11111111-1111-4111-8111-111111111111"
GENERATING = "22222222-2222-4222-8222-222222222222"
DEMO_RUNNING = 3
"""The demo seed's chats that start generating."""
# Answers whose tool call runs long enough to be stopped mid-way.
PACING = ("--first-token-delay", "0.05", "--tokens-per-second", "400", "--tool-seconds", "30")
DEADLINE = 15.0
OUTAGE = 2.5
"""Seconds Redis stays away: longer than a generation's lease (1 s in that test) and its looks at
the store, so that the generation running then learns of the outage."""


def mock(*flags: str) -> contextlib.AbstractContextManager[Served]:
    """`recoup-mock serve` with answers whose tool call runs long enough to be stopped mid-way."""
    return mock_process("--quiet", *PACING, *flags)


@contextlib.contextmanager
def two_mocks(store_flags: tuple[str, ...], *flags: str) -> Iterator[tuple[Served, Served]]:
    with mock(*store_flags, *flags) as first, mock(*store_flags, *flags) as second:
        yield first, second


@dataclass
class Stream:
    events: list[object]
    ended: asyncio.Event


async def open_stream(client: httpx.AsyncClient, method: str, url: str, **kwargs: object) -> Stream:
    """Read an answer stream in the background; return once its tool call runs."""
    stream = Stream([], asyncio.Event())
    running = asyncio.Event()

    async def read() -> None:
        try:
            async with client.stream(method, url, headers=KEY, timeout=DEADLINE, **kwargs) as response:
                assert response.status_code == 200, await response.aread()
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        data = line.removeprefix("data: ")
                        stream.events.append(data if data == "[DONE]" else json.loads(data))
                        if data != "[DONE]" and stream.events[-1]["type"] == "tool-input-available":
                            running.set()
        except (httpx.TransportError, AssertionError):
            pass
        finally:
            stream.ended.set()
            running.set()

    asyncio.get_running_loop().create_task(read())
    await asyncio.wait_for(running.wait(), DEADLINE)
    return stream


async def new_chat(client: httpx.AsyncClient, url: str) -> tuple[str, str]:
    created = (await client.post(f"{url}/api/sessions", json={}, headers=KEY)).json()
    return created["session"]["id"], created["chat"]["id"]


async def send(client: httpx.AsyncClient, url: str, session_id: str, chat_id: str) -> Stream:
    message = {"id": uuid.uuid4().hex, "role": "user", "parts": [{"type": "text", "text": "hi"}]}
    body = {"sessionId": session_id, "chatId": chat_id, "messages": [message]}
    return await open_stream(client, "POST", f"{url}/api/chat", json=body)


async def stop(client: httpx.AsyncClient, url: str, chat_id: str) -> dict[str, object]:
    response = await client.post(f"{url}/api/chat/{chat_id}/stop", headers=KEY, timeout=DEADLINE)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def messages(client: httpx.AsyncClient, url: str, session_id: str, chat_id: str) -> list[dict]:
    response = await client.get(f"{url}/api/sessions/{session_id}/chats/{chat_id}", headers=KEY)
    assert response.status_code == 200, response.text
    found: list[dict] = response.json()["messages"]
    return found


async def chat_is_idle(client: httpx.AsyncClient, url: str, chat_id: str) -> bool:
    response = await client.get(f"{url}/api/chat/{chat_id}/stream", headers=KEY, timeout=DEADLINE)
    return response.status_code == 204


async def answers_again(client: httpx.AsyncClient, url: str) -> bool:
    return (await client.post(f"{url}/api/sessions", json={}, headers=KEY)).status_code == 200


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait until `check()` is true, at most `DEADLINE` seconds."""
    for _ in range(int(DEADLINE / 0.2)):
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {DEADLINE} s: {what}")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # A reset waits a second for the demo's answer that ignores cancels; on a busy machine longer
    # than httpx's default 5 s.
    async with httpx.AsyncClient(timeout=DEADLINE) as http:
        yield http


def tool_results(events: list[object]) -> list[dict]:
    return [e for e in events if isinstance(e, dict) and e["type"].startswith("tool-output")]


async def test_a_stop_on_one_process_ends_the_stream_another_process_serves(
    redis_store_flags: tuple[str, ...], client: httpx.AsyncClient
):
    with two_mocks(redis_store_flags) as (first, second):
        session_id, chat_id = await new_chat(client, first.url)
        stream = await send(client, first.url, session_id, chat_id)
        assert await stop(client, second.url, chat_id) == {"success": True, "stopped": True}
        await asyncio.wait_for(stream.ended.wait(), DEADLINE)
        assert stream.events[-3:] == [{"type": "abort"}, {"type": "finish"}, "[DONE]"]
        assert tool_results(stream.events)[-1]["errorText"] == "Cancelled"
        saved = (await messages(client, second.url, session_id, chat_id))[-1]
        assert saved["metadata"]["status"] == "cancelled"
        assert [p["state"] for p in saved["parts"] if p["type"].startswith("tool-")] == ["output-error"]


async def test_concurrent_stops_on_two_processes_have_exactly_one_winner(
    redis_store_flags: tuple[str, ...], client: httpx.AsyncClient
):
    with two_mocks(redis_store_flags) as (first, second):
        for _ in range(3):
            generated = await client.post(f"{first.url}/__mock/chats/{IDLE}/generate", json={})
            assert generated.status_code == 200, generated.text
            stops = [stop(client, (first, second)[i % 2].url, IDLE) for i in range(10)]
            answers = await asyncio.gather(*stops)
            assert sorted(a["stopped"] for a in answers) == [False] * 9 + [True]


async def test_a_resume_on_another_process_replays_from_its_start_index(
    redis_store_flags: tuple[str, ...], client: httpx.AsyncClient
):
    with two_mocks(redis_store_flags) as (first, second):
        session_id, chat_id = await new_chat(client, first.url)
        original = await send(client, first.url, session_id, chat_id)
        resumed = await open_stream(client, "GET", f"{second.url}/api/chat/{chat_id}/stream?startIndex=3")
        await stop(client, second.url, chat_id)
        await asyncio.wait_for(original.ended.wait(), DEADLINE)
        await asyncio.wait_for(resumed.ended.wait(), DEADLINE)
        assert resumed.events == original.events[3:]
        assert resumed.events[-1] == "[DONE]"


async def test_the_seed_is_loaded_once_and_a_restart_keeps_what_is_stored(
    redis_store_flags: tuple[str, ...], client: httpx.AsyncClient
):
    with mock(*redis_store_flags) as first:
        with mock(*redis_store_flags) as second:
            state = (await client.get(f"{second.url}/__mock/state")).json()
            assert len(state["generating"]) == DEMO_RUNNING
            sessions = state["sessions"]
            session_id, chat_id = await new_chat(client, second.url)
        with mock(*redis_store_flags) as restarted:
            state = (await client.get(f"{restarted.url}/__mock/state")).json()
            assert state["sessions"] == sessions + 1
            assert await messages(client, restarted.url, session_id, chat_id) == []
            assert len(state["generating"]) == DEMO_RUNNING
        assert (await client.get(f"{first.url}/__mock/state")).json()["sessions"] == sessions + 1


async def test_a_reset_on_one_process_resets_the_state_both_serve(
    redis_store_flags: tuple[str, ...], client: httpx.AsyncClient
):
    with two_mocks(redis_store_flags) as (first, second):
        sessions = (await client.get(f"{first.url}/__mock/state")).json()["sessions"]
        session_id, chat_id = await new_chat(client, second.url)
        stream = await send(client, second.url, session_id, chat_id)
        assert (await client.post(f"{first.url}/__mock/reset")).status_code == 200
        await asyncio.wait_for(stream.ended.wait(), DEADLINE)
        gone = await client.get(f"{second.url}/api/sessions/{session_id}/chats", headers=KEY)
        assert gone.status_code == 404
        state = (await client.get(f"{second.url}/__mock/state")).json()
        assert state["sessions"] == sessions
        assert len(state["generating"]) == DEMO_RUNNING


async def test_a_lost_redis_ends_streams_with_an_error_answers_503_and_is_survived(
    tmp_path: Path, client: httpx.AsyncClient
):
    redis = start_redis(tmp_path, persistent=True)
    flags = ("--store", redis.url, "--store-prefix", "lost", "--generation-lease", "1")
    try:
        with mock(*flags) as served:
            session_id, chat_id = await new_chat(client, served.url)
            stream = await send(client, served.url, session_id, chat_id)
            redis.stop()
            await asyncio.wait_for(stream.ended.wait(), DEADLINE)
            assert stream.events[-2:] == [
                {
                    "type": "error",
                    "errorText": "The mock lost its store while streaming; the answer cannot go on",
                },
                "[DONE]",
            ]
            refused = await client.post(f"{served.url}/api/sessions", json={}, headers=KEY)
            await asyncio.sleep(OUTAGE)
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            assert refused.json()["status"] == "error"
            redis.start()
            await eventually(lambda: answers_again(client, served.url), "requests are answered again")
            await eventually(lambda: chat_is_idle(client, served.url, chat_id), "the chat is free again")
            assert (await messages(client, served.url, session_id, chat_id))[-1]["metadata"] == {
                "status": "failed"
            }
    finally:
        redis.stop()


async def test_a_redis_that_comes_back_empty_is_seeded_again(tmp_path: Path, client: httpx.AsyncClient):
    redis = start_redis(tmp_path)
    try:
        with mock("--store", redis.url) as served:
            assert (await client.post(f"{served.url}/api/sessions", json={}, headers=KEY)).status_code == 200
            redis.stop()
            redis.start()  # without persistence: empty
            await eventually(lambda: answers_again(client, served.url), "requests are answered again")

            async def seeded() -> bool:
                state = (await client.get(f"{served.url}/__mock/state")).json()
                return len(state["generating"]) == DEMO_RUNNING

            # Requests are answered as soon as Redis is back; the seed follows within a check.
            await eventually(seeded, "the demo's answers run again")
    finally:
        redis.stop()


ZED_SESSION = "0e0e0e0e-0000-4000-8000-000000000001"
ZED_CHAT = "0e0e0e0e-0000-4000-8000-000000000002"
ZED_SEED = {
    "accounts": [
        {
            "id": "zed",
            "api_keys": ["zed-key"],
            "sessions": [
                {
                    "id": ZED_SESSION,
                    "chats": [
                        {
                            "id": ZED_CHAT,
                            "messages": [
                                {"role": "user", "text": "one"},
                                {"role": "assistant", "text": "two"},
                            ],
                        }
                    ],
                }
            ],
        }
    ]
}


async def test_a_seed_loaded_on_one_process_is_the_one_every_reset_returns_to(
    redis_store_flags: tuple[str, ...], client: httpx.AsyncClient
):
    with two_mocks(redis_store_flags) as (first, second):
        loads = [client.put(f"{m.url}/__mock/seed", json=ZED_SEED, timeout=DEADLINE) for m in (first, second)]
        assert [answer.status_code for answer in await asyncio.gather(*loads)] == [200, 200]
        assert (await client.get(f"{second.url}/__mock/seed")).json() == ZED_SEED
        assert (await client.post(f"{second.url}/__mock/reset")).status_code == 200
        for served in (first, second):
            chat = await client.get(
                f"{served.url}/api/sessions/{ZED_SESSION}/chats/{ZED_CHAT}", headers={"x-api-key": "zed-key"}
            )
            assert [m["parts"][0]["text"] for m in chat.json()["messages"]] == ["one", "two"]
            refused = await client.post(f"{served.url}/api/sessions", json={}, headers=KEY)
            assert refused.status_code == 401


async def test_sigterm_ends_the_streams_of_answers_another_process_generates(
    redis_store_flags: tuple[str, ...], client: httpx.AsyncClient
):
    with two_mocks(redis_store_flags) as (generating, following):
        session_id, chat_id = await new_chat(client, generating.url)
        await send(client, generating.url, session_id, chat_id)
        resumed = await open_stream(client, "GET", f"{following.url}/api/chat/{chat_id}/stream")
        following.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(resumed.ended.wait(), DEADLINE)
        assert resumed.events[-2:] == [
            {"type": "error", "errorText": "The server is shutting down"},
            "[DONE]",
        ]
        assert following.process.wait(DEADLINE) == 0
        assert await stop(client, generating.url, chat_id) == {"success": True, "stopped": True}
