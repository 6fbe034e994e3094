"""Leases as served: two `recoup-mock serve` processes on a real `redis-server`. A process killed
mid-answer has its answer ended and its chat freed by the other within a lease; a Redis that stalls
for longer than a lease ends no answer whose process is alive."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import redis

from tests import test_shared_store
from tests.redis_server import start_redis
from tests.test_shared_store import (
    DEADLINE,
    chat_is_idle,
    messages,
    mock,
    new_chat,
    open_stream,
    send,
    stop,
    tool_results,
    two_mocks,
)

client = test_shared_store.client
"""The fixture: an HTTP client with the shared-store tests' deadline."""

PROCESS_LOST = {"type": "error", "errorText": "The process generating this answer stopped"}
LEASE = 1.0
STALL = 3.0
"""Seconds Redis answers nobody (`DEBUG SLEEP`): longer than the lease of the stalled mocks."""
STALLED_LEASE = 2.0


async def test_a_chat_whose_process_was_killed_mid_answer_is_freed_by_another_within_a_lease(
    redis_store_flags: tuple[str, ...], client: httpx.AsyncClient
):
    lease = ("--generation-lease", str(LEASE))
    with mock(*redis_store_flags, *lease) as survivor:
        with mock(*redis_store_flags, *lease) as doomed:
            session_id, chat_id = await new_chat(client, doomed.url)
            await send(client, doomed.url, session_id, chat_id)
            follower = await open_stream(client, "GET", f"{survivor.url}/api/chat/{chat_id}/stream")
            killed_at = time.monotonic()
            doomed.process.send_signal(signal.SIGKILL)
            doomed.process.wait()
        await asyncio.wait_for(follower.ended.wait(), DEADLINE)
        # Within a lease of its last renewal, which came at most an eighth of a lease before the
        # kill; the rest of the margin is the stream's way to this client on a busy machine.
        assert time.monotonic() - killed_at < LEASE + 1.0
        assert follower.events[-3:] == [
            {
                "type": "tool-output-error",
                "toolCallId": tool_results(follower.events)[-1]["toolCallId"],
                "errorText": "Cancelled",
            },
            PROCESS_LOST,
            "[DONE]",
        ]
        assert await chat_is_idle(client, survivor.url, chat_id)
        saved = (await messages(client, survivor.url, session_id, chat_id))[-1]
        assert saved["metadata"] == {"status": "failed"}
        again = await send(client, survivor.url, session_id, chat_id)
        await stop(client, survivor.url, chat_id)
        await asyncio.wait_for(again.ended.wait(), DEADLINE)


async def test_a_redis_that_stalls_longer_than_a_lease_ends_no_live_answer(
    tmp_path: Path, client: httpx.AsyncClient
):
    server = start_redis(tmp_path, flags=("--enable-debug-command", "yes"))
    flags = ("--store", server.url, "--generation-lease", str(STALLED_LEASE))
    try:
        with two_mocks(flags) as (first, second):
            answers = []
            for served in (first, second) * 10:
                session_id, chat_id = await new_chat(client, served.url)
                answers.append((served, chat_id, await send(client, served.url, session_id, chat_id)))
            stalled = redis.Redis.from_url(server.url)
            await asyncio.to_thread(stalled.execute_command, "DEBUG", "SLEEP", str(STALL))
            stalled.close()
            # A wrong take-over would come within a quarter lease of Redis answering again, and
            # a lease's wait covers it; every answer is still streaming, on its own process.
            await asyncio.sleep(STALLED_LEASE)
            assert [stream.ended.is_set() for _, _, stream in answers] == [False] * len(answers)
            for served, chat_id, _ in answers:
                assert await stop(client, served.url, chat_id) == {"success": True, "stopped": True}
            for _, _, stream in answers:
                await asyncio.wait_for(stream.ended.wait(), DEADLINE)
                assert PROCESS_LOST not in stream.events
                assert stream.events[-3:] == [{"type": "abort"}, {"type": "finish"}, "[DONE]"]
    finally:
        server.stop()
