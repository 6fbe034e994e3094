"""The service's part in a server shutdown: `cancel_all` ends every running answer as a stop does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from mock_server.domain.answers import text_only
from mock_server.domain.generation import SHUTTING_DOWN, Generations, Pacing
from mock_server.domain.models import Account, Chat, Fault, RunStatus, new_id
from mock_server.domain.service import ChatService
from mock_server.domain.store import MemoryStore

A = Account(id="artist-a", api_keys=("key-a",))
PACE = 0.02
PACING = Pacing(first_token=PACE, tokens_per_second=1 / PACE, tool_seconds=30)
GRACE = 0.2


@pytest.fixture
async def service() -> AsyncIterator[ChatService]:
    store = MemoryStore()
    service = ChatService(store, Generations(store, pacing=PACING, stop_timeout=1.0))
    await service.add_account(A)
    yield service
    await service.close()


async def generating(service: ChatService, fault: Fault | None = None) -> tuple[Chat, str]:
    _, chat = await service.sessions.create_session(A, title="test")
    run = await service.generate(chat.id, text_only("one two three " * 50, repeat=True), fault=fault)
    return chat, run.id


async def chunks_of(service: ChatService, run_id: str) -> list[dict[str, object]]:
    return [chunk async for chunk in service.store.follow_chunks(run_id)]


async def test_cancel_all_stops_every_running_answer_like_a_stop(service: ChatService):
    runs = [await generating(service) for _ in range(3)]
    await asyncio.sleep(PACE * 5)
    assert await service.cancel_all(GRACE) == 3
    for chat, run_id in runs:
        run = await service.store.get_run(run_id)
        assert run is not None and run.status is RunStatus.CANCELLED
        assert (await chunks_of(service, run_id))[-2:] == [{"type": "abort"}, {"type": "finish"}]
        _, [answer] = await service.sessions.session_chat(A, chat.session_id, chat.id)
        assert answer["metadata"] == {"status": "cancelled"}
        assert [part["type"] for part in answer["parts"]] == ["step-start", "text"]
        assert (await service.store.get_chat(chat.id)).active_stream_id is None  # type: ignore[union-attr]


async def test_a_running_tool_call_is_cancelled(service: ChatService):
    _, chat = await service.sessions.create_session(A, title="test")
    sent = await service.send(
        A,
        chat.session_id,
        chat.id,
        [{"id": new_id(), "role": "user", "parts": [{"type": "text", "text": "x"}]}],
    )
    chunks = sent.chunks
    seen = [chunk async for chunk in _until(chunks, "tool-input-available")]
    await service.cancel_all(GRACE)
    rest = [chunk async for chunk in chunks]
    call_id = seen[-1]["toolCallId"]
    assert rest == [
        {"type": "tool-output-error", "toolCallId": call_id, "errorText": "Cancelled"},
        {"type": "abort"},
        {"type": "finish"},
    ]


async def _until(chunks: AsyncIterator[dict[str, object]], kind: str) -> AsyncIterator[dict[str, object]]:
    async for chunk in chunks:
        yield chunk
        if chunk["type"] == kind:
            return


async def test_an_answer_that_ignores_the_cancel_ends_with_an_error_chunk(service: ChatService):
    chat, run_id = await generating(service, Fault.IGNORE_CANCEL)
    await asyncio.sleep(PACE * 5)
    await service.cancel_all(GRACE)
    assert (await chunks_of(service, run_id))[-2:] == [
        {"type": "error", "errorText": SHUTTING_DOWN},
        {"type": "finish"},
    ]
    run = await service.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.CANCELLED
    _, [answer] = await service.sessions.session_chat(A, chat.session_id, chat.id)
    assert answer["metadata"] == {"status": "cancelled"} and answer["parts"]


async def test_an_answer_whose_stop_fails_is_still_ended(service: ChatService):
    _, run_id = await generating(service, Fault.CANCEL_FAILS)
    await service.cancel_all(GRACE)
    assert (await chunks_of(service, run_id))[-2:] == [{"type": "abort"}, {"type": "finish"}]


async def test_an_answer_started_after_cancel_all_is_stopped_at_once(service: ChatService):
    assert await service.cancel_all(GRACE) == 0
    _, run_id = await generating(service)
    chunks = await asyncio.wait_for(chunks_of(service, run_id), 1)
    assert chunks[-2:] == [{"type": "abort"}, {"type": "finish"}]


class SwallowingStore(MemoryStore):
    """A store whose writes swallow a cancel, as `asyncio.wait_for` does on Python 3.11 when its
    inner future completes at the same moment (CPython gh-86296): redis-py writes through it."""

    async def append_chunk(self, run_id: str, chunk: dict[str, object]) -> int:
        index = await super().append_chunk(run_id, chunk)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0)
        return index


async def test_an_answer_whose_cancel_a_library_swallowed_still_ends():
    store = SwallowingStore()
    pacing = Pacing(first_token=0, tokens_per_second=0, tool_seconds=0)
    generations = Generations(store, pacing=pacing, stop_timeout=1.0)
    service = ChatService(store, generations)
    await service.add_account(A)
    _, chat = await service.sessions.create_session(A, title="test")
    # Endless, and never waiting: every await of the generation is a write that swallows a cancel.
    run = await service.generate(chat.id, text_only("one two three " * 50, repeat=True), fault=None)
    await asyncio.sleep(0.01)
    await asyncio.wait_for(generations.close(), 5)
    stored = await store.get_run(run.id)
    assert stored is not None and stored.status is RunStatus.CANCELLED
