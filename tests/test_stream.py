"""The answer stream over a real uvicorn on loopback: its format, a stop mid-way, resume, 409."""

from __future__ import annotations

import asyncio
import time

from contract_tests.client import ChatRef, RecoupClient
from tests.conftest import TEST_CONFIG

PROMPT_ENDING = 0.5
"""Seconds within which a stopped stream must end (a small fraction of one answer)."""


async def test_answer_is_an_ai_sdk_ui_message_stream(live: RecoupClient):
    chat = await live.create_chat()
    log = await live.read_stream("POST", "/api/chat", json=live.send_body(chat, "Hello"))
    assert log.status_code == 200
    assert log.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert log.headers["content-type"].startswith("text/event-stream")
    assert log.headers["x-workflow-run-id"]
    types = log.types()
    assert types[:3] == ["start", "start-step", "text-start"]
    assert types[-3:] == ["text-end", "finish-step", "finish"]
    assert set(types[3:-3]) == {"text-delta"}
    assert log.done, "the stream must end with data: [DONE]"
    assert "Hello" in log.text


async def test_answer_streams_chunk_by_chunk_at_the_configured_pace(live: RecoupClient):
    chat = await live.create_chat()
    log = await live.read_stream("POST", "/api/chat", json=live.send_body(chat, "Pace"))
    gaps = [b - a for a, b in zip(log.arrivals, log.arrivals[1:], strict=False)][:-1]
    assert len(gaps) > 10
    assert sum(gaps) / len(gaps) >= TEST_CONFIG.stream_pace * 0.5


async def test_completed_answer_is_saved_and_frees_the_chat(live: RecoupClient):
    chat = await live.create_chat()
    log = await live.read_stream("POST", "/api/chat", json=live.send_body(chat, "Save me"))
    state = await live.chat_state(chat)
    assert state["isStreaming"] is False
    assert state["chat"]["lastAssistantMessageAt"] is not None
    assistant = state["messages"][-1]
    assert assistant["role"] == "assistant"
    assert assistant["parts"] == [{"type": "text", "text": log.text}]


async def test_stream_ends_promptly_after_a_stop(live: RecoupClient):
    chat = await live.create_chat()
    async with live.streaming("POST", "/api/chat", json=live.send_body(chat, "Long")) as (
        log,
        chunks,
    ):
        stop_answered = None
        async for chunk in chunks:
            if chunk["type"] == "text-delta" and stop_answered is None:
                response = await live.stop(chat.chat_id)
                stop_answered = time.monotonic()
                assert response.json() == {"success": True, "stopped": True}
    assert stop_answered is not None and log.ended_at is not None
    assert log.ended_at - stop_answered < PROMPT_ENDING, (
        f"the stream went on {log.ended_at - stop_answered:.3f}s after the stop answered"
    )
    assert log.types()[-1] == "abort", "no chunk may follow the abort"
    assert "finish" not in log.types()
    assert log.done


async def test_stopped_chat_keeps_the_partial_answer(live: RecoupClient):
    chat = await live.create_chat()
    async with live.streaming("POST", "/api/chat", json=live.send_body(chat, "Partial")) as (
        log,
        chunks,
    ):
        async for chunk in chunks:
            if chunk["type"] == "text-delta" and len(log.text.split()) >= 3:
                await live.stop(chat.chat_id)
    state = await live.chat_state(chat)
    assert state["isStreaming"] is False
    assert state["chat"]["activeStreamId"] is None
    assistant = state["messages"][-1]
    assert assistant["parts"] == [{"type": "text", "text": log.text}]
    assert assistant["metadata"] == {"status": "cancelled"}


async def test_second_send_while_generating_is_409(live: RecoupClient):
    chat = await live.create_chat()
    async with live.streaming("POST", "/api/chat", json=live.send_body(chat, "First")) as (
        log,
        chunks,
    ):
        async for _ in chunks:
            if len(log.chunks) == 1:
                second = await live.send(chat, "Second")
                assert second.status_code == 409
                assert second.json() == {
                    "status": "error",
                    "error": "Another workflow is already running for this chat",
                }
    assert log.types()[-1] == "finish", "the first answer must go on undisturbed"


async def test_resume_replays_from_start_index(live: RecoupClient):
    chat = await live.create_chat()
    async with live.streaming("POST", "/api/chat", json=live.send_body(chat, "Resume")) as (
        original,
        chunks,
    ):
        resumed = None
        async for _ in chunks:
            if len(original.chunks) == 5 and resumed is None:
                resumed = asyncio.create_task(
                    live.read_stream("GET", f"/api/chat/{chat.chat_id}/stream?startIndex=2")
                )
    assert resumed is not None
    log = await resumed
    assert log.status_code == 200
    assert int(log.headers["x-workflow-stream-tail-index"]) >= 5
    assert log.headers["x-workflow-run-id"] == original.headers["x-workflow-run-id"]
    assert log.chunks == original.chunks[2:]
    assert log.done


async def test_resume_with_nothing_running_is_204(live: RecoupClient, chat: ChatRef):
    response = await live.request("GET", f"/api/chat/{chat.chat_id}/stream")
    assert response.status_code == 204
    assert response.content == b""
