"""The answer stream over a real uvicorn on loopback: an agent's answer in the AI SDK's format, its
pacing, a stop at any point of it (mid-tool included), resume from any index, a second send that
follows the live answer, and a client that leaves."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from connexion import AsyncApp

from contract_tests.client import ChatRef, RecoupClient
from mock_server.domain.chunks import assemble
from tests.conftest import TEST_CONFIG, AdminClient

PROMPT_ENDING = 0.5
"""Seconds within which a stopped stream must end (a small fraction of one answer)."""
LONG_TOOL: list[dict[str, Any]] = [
    {"type": "reasoning", "text": "I need the tour dates."},
    {"type": "tool", "name": "get_tour_dates", "input": {"year": 2027}, "output": {"n": 2}, "seconds": 30},
    {"type": "text", "text": "Never reached."},
]


def content_types(types: list[str]) -> list[str]:
    """The chunk types without the deltas, which repeat."""
    return [t for t in types if not t.endswith("-delta")]


async def test_default_answer_is_an_agents_reasoning_tool_call_and_text(live: RecoupClient):
    chat = await live.create_chat()
    log = await live.read_stream("POST", "/api/chat", json=live.send_body(chat, "Hello"))
    assert log.status_code == 200
    assert log.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert log.headers["x-accel-buffering"] == "no"
    assert log.headers["content-type"].startswith("text/event-stream")
    assert log.headers["x-workflow-run-id"]
    assert content_types(log.types()) == [
        "start",
        "start-step",
        "reasoning-start",
        "reasoning-end",
        "tool-input-start",
        "tool-input-available",
        "tool-output-available",
        "finish-step",
        "message-metadata",
        "start-step",
        "text-start",
        "text-end",
        "finish-step",
        "message-metadata",
        "finish",
    ]
    assert {"reasoning-delta", "tool-input-delta", "text-delta"} <= set(log.types())
    assert log.done, "the stream must end with data: [DONE]"
    assert "Hello" in log.text


async def test_first_content_waits_the_time_to_first_token_then_deltas_keep_the_rate(live: RecoupClient):
    chat = await live.create_chat()
    started = time.monotonic()
    log = await live.read_stream("POST", "/api/chat", json=live.send_body(chat, "Pace"))
    first_content = log.types().index("reasoning-start")
    assert log.arrivals[first_content] - started >= TEST_CONFIG.first_token_delay
    text = [at for at, chunk in zip(log.arrivals, log.chunks, strict=False) if chunk["type"] == "text-delta"]
    assert len(text) > 50
    # Lower bounds only: a loaded machine streams slower, never faster.
    assert (text[-1] - text[0]) / (len(text) - 1) >= 0.5 / TEST_CONFIG.tokens_per_second
    # From the request on, which a late reading of an earlier chunk cannot shorten.
    tool = log.types().index("tool-output-available")
    assert log.arrivals[tool] - started >= TEST_CONFIG.first_token_delay + TEST_CONFIG.tool_seconds


async def test_completed_answer_is_saved_with_its_parts_and_frees_the_chat(live: RecoupClient):
    chat = await live.create_chat()
    log = await live.read_stream("POST", "/api/chat", json=live.send_body(chat, "Save me"))
    state = await live.chat_state(chat)
    assert state["isStreaming"] is False
    assert state["chat"]["lastAssistantMessageAt"] is not None
    assistant = state["messages"][-1]
    assert assistant["role"] == "assistant"
    assert assistant["parts"] == assemble(log.chunks)
    assert [p["type"] for p in assistant["parts"]] == [
        "step-start",
        "reasoning",
        "tool-search_web",
        "step-start",
        "text",
    ]
    assert assistant["parts"][2]["state"] == "output-available"
    assert assistant["parts"][4] == {"type": "text", "text": log.text, "state": "done"}


async def test_stream_ends_promptly_after_a_stop(live: RecoupClient):
    chat = await live.create_chat()
    async with live.streaming("POST", "/api/chat", json=live.send_body(chat, "Long")) as (log, chunks):
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
    assert log.types()[-2:] == ["abort", "finish"], "a stopped turn ends with abort, then finish"
    assert log.done


async def test_stopped_chat_keeps_the_partial_answer(live: RecoupClient):
    chat = await live.create_chat()
    async with live.streaming("POST", "/api/chat", json=live.send_body(chat, "Partial")) as (log, chunks):
        async for chunk in chunks:
            if chunk["type"] == "text-delta" and len(log.text.split()) >= 3:
                await live.stop(chat.chat_id)
    state = await live.chat_state(chat)
    assert state["isStreaming"] is False
    assert state["chat"]["activeStreamId"] is None
    assistant = state["messages"][-1]
    assert assistant["parts"] == assemble(log.chunks)
    assert assistant["parts"][-1] == {"type": "text", "text": log.text, "state": "streaming"}
    assert assistant["metadata"]["status"] == "cancelled"
    assert assistant["metadata"]["stepFinishReasons"] == [{"finishReason": "tool-calls"}]


async def test_stop_mid_tool_cancels_the_tool_call_and_keeps_it_as_output_error(
    live: RecoupClient, admin: AdminClient
):
    chat = await live.create_chat()
    assert (await admin.generate(chat.chat_id, parts=LONG_TOOL)).status_code == 200
    path = f"/api/chat/{chat.chat_id}/stream"
    async with live.streaming("GET", path) as (log, chunks):
        async for chunk in chunks:
            if chunk["type"] == "tool-input-available":
                assert (await live.stop(chat.chat_id)).json() == {"success": True, "stopped": True}
    call_id = log.chunks[-3]["toolCallId"]
    assert log.chunks[-3:] == [
        {"type": "tool-output-error", "toolCallId": call_id, "errorText": "Cancelled"},
        {"type": "abort"},
        {"type": "finish"},
    ]
    assert log.done
    state = await live.chat_state(chat)
    [tool] = [p for p in state["messages"][-1]["parts"] if p["type"] == "tool-get_tour_dates"]
    assert tool == {
        "type": "tool-get_tour_dates",
        "toolCallId": call_id,
        "state": "output-error",
        "input": {"year": 2027},
        "errorText": "Cancelled",
    }


async def test_stop_while_tool_input_streams_cancels_it_too(live: RecoupClient, admin: AdminClient):
    chat = await live.create_chat()
    slow_input = [{"type": "tool", "name": "lookup", "input": {"q": "x" * 6000}, "output": 1}]  # 500 deltas
    assert (await admin.generate(chat.chat_id, parts=slow_input)).status_code == 200
    async with live.streaming("GET", f"/api/chat/{chat.chat_id}/stream") as (log, chunks):
        async for chunk in chunks:
            if chunk["type"] == "tool-input-delta":
                await live.stop(chat.chat_id)
    call_id = log.chunks[-4]["toolCallId"]
    assert log.chunks[-4:] == [
        {"type": "tool-input-available", "toolCallId": call_id, "toolName": "lookup", "input": {}},
        {"type": "tool-output-error", "toolCallId": call_id, "errorText": "Cancelled"},
        {"type": "abort"},
        {"type": "finish"},
    ], "a call whose input was cut short is given `{}`, then cancelled"
    state = await live.chat_state(chat)
    tool = state["messages"][-1]["parts"][-1]
    assert tool["state"] == "output-error"
    assert set(tool["input"]) == {"q"} and set(tool["input"]["q"]) <= {"x"}, (
        "the saved part keeps the input streamed so far"
    )


async def test_a_second_send_while_generating_gets_the_live_answer_from_its_start(live: RecoupClient):
    chat = await live.create_chat()
    async with live.streaming("POST", "/api/chat", json=live.send_body(chat, "First")) as (log, chunks):
        async for _ in chunks:
            if len(log.chunks) == 3:
                body = live.send_body(chat, "Second")
                again = await live.read_stream("POST", "/api/chat", json=body)
                assert again.status_code == 200
                assert again.headers["x-workflow-run-id"] == log.headers["x-workflow-run-id"]
    assert again.chunks == log.chunks, "the second send reads the same answer, from its first chunk"
    assert log.types()[-1] == "finish", "the first answer goes on undisturbed"
    state = await live.chat_state(chat)
    assert [m["role"] for m in state["messages"]] == ["user", "assistant"], "the second is not kept"


async def test_a_client_that_leaves_the_stream_stops_the_answer(live: RecoupClient):
    chat = await live.create_chat()
    async with live.streaming("POST", "/api/chat", json=live.send_body(chat, "Bye")) as (log, chunks):
        async for _ in chunks:
            if len(log.chunks) == 3:
                break
    for _ in range(100):
        state = await live.chat_state(chat)
        if not state["isStreaming"]:
            break
        await asyncio.sleep(0.02)
    assert state["isStreaming"] is False, "the answer went on after its client left"
    assert state["messages"][-1]["metadata"]["status"] == "cancelled"


async def test_resume_replays_from_any_index_mid_tool_included(
    app: AsyncApp, live: RecoupClient, admin: AdminClient
):
    app.runtime.service.cancel_dropped = False  # --on-disconnect continue: each replay is left early
    chat = await live.create_chat()
    assert (await admin.generate(chat.chat_id, parts=LONG_TOOL)).status_code == 200
    path = f"/api/chat/{chat.chat_id}/stream"
    async with live.streaming("GET", path) as (original, chunks):
        async for chunk in chunks:
            if chunk["type"] == "tool-input-available":
                break
        seen = list(original.chunks)
        for index in range(len(seen) + 1):
            async with live.streaming("GET", f"{path}?startIndex={index}") as (log, replay):
                assert int(log.headers["x-workflow-stream-tail-index"]) == len(seen) - 1
                assert log.headers["x-workflow-run-id"]
                got = [await anext(replay) for _ in range(len(seen) - index)]
            assert got == seen[index:]
        await live.stop(chat.chat_id)
        tail = [chunk async for chunk in chunks]
    assert [c["type"] for c in tail] == ["tool-output-error", "abort", "finish"]
    assert (await live.request("GET", path)).status_code == 204, "a stopped answer is over"


async def test_resume_follows_a_running_answer_to_its_end(live: RecoupClient):
    chat = await live.create_chat()
    async with live.streaming("POST", "/api/chat", json=live.send_body(chat, "Resume")) as (original, chunks):
        resumed = None
        async for _ in chunks:
            if len(original.chunks) == 5 and resumed is None:
                path = f"/api/chat/{chat.chat_id}/stream?startIndex=2"
                resumed = asyncio.create_task(live.read_stream("GET", path))
    assert resumed is not None
    log = await resumed
    assert log.status_code == 200
    assert log.headers["x-workflow-run-id"] == original.headers["x-workflow-run-id"]
    assert log.chunks == original.chunks[2:]
    assert log.done


async def test_resume_with_nothing_running_is_204(live: RecoupClient, chat: ChatRef):
    response = await live.request("GET", f"/api/chat/{chat.chat_id}/stream")
    assert response.status_code == 204
    assert response.content == b""
