"""The service's part in a server shutdown: `cancel_all` ends every running answer as a stop does."""

from __future__ import annotations

import asyncio
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
    _, chat = await service.create_session(A, title="test")
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
        assert (await chunks_of(service, run_id))[-1] == {"type": "abort"}
        _, [answer] = await service.session_chat(A, chat.session_id, chat.id)
        assert answer["metadata"] == {"status": "cancelled"}
        assert [part["type"] for part in answer["parts"]] == ["step-start", "text"]
        assert (await service.store.get_chat(chat.id)).active_stream_id is None  # type: ignore[union-attr]


async def test_a_running_tool_call_is_cancelled(service: ChatService):
    _, chat = await service.create_session(A, title="test")
    _, chunks = await service.send(
        A,
        chat.session_id,
        chat.id,
        [{"id": new_id(), "role": "user", "parts": [{"type": "text", "text": "x"}]}],
    )
    seen = [chunk async for chunk in _until(chunks, "tool-input-available")]
    await service.cancel_all(GRACE)
    rest = [chunk async for chunk in chunks]
    call_id = seen[-1]["toolCallId"]
    assert rest == [
        {"type": "tool-output-error", "toolCallId": call_id, "errorText": "Cancelled"},
        {"type": "abort"},
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
    assert (await chunks_of(service, run_id))[-1] == {"type": "error", "errorText": SHUTTING_DOWN}
    run = await service.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.CANCELLED
    _, [answer] = await service.session_chat(A, chat.session_id, chat.id)
    assert answer["metadata"] == {"status": "cancelled"} and answer["parts"]


async def test_an_answer_whose_stop_fails_is_still_ended(service: ChatService):
    _, run_id = await generating(service, Fault.CANCEL_FAILS)
    await service.cancel_all(GRACE)
    assert (await chunks_of(service, run_id))[-1] == {"type": "abort"}


async def test_an_answer_started_after_cancel_all_is_stopped_at_once(service: ChatService):
    assert await service.cancel_all(GRACE) == 0
    _, run_id = await generating(service)
    chunks = await asyncio.wait_for(chunks_of(service, run_id), 1)
    assert chunks[-1] == {"type": "abort"}
