"""The rules of a streamed answer and of a stop that cuts one short, as properties.

Every chunk any rule reads is checked as it arrives: valid against the contract's `UIMessageChunk`
schema and in an order every AI SDK v6 client can assemble (`contract_tests.streams`). These rules
add what only a whole answer, or a stop at a chosen point of one, shows: an answer ends with
`finish`, a stopped one ends at once, and its tool calls without a result are cancelled.
"""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from contract_tests.client import json_body
from contract_tests.rules import (
    IDLE_ANSWER,
    LATE_SLACK,
    OPTIONS,
    STOPPED_ANSWER,
    SUITE,
    Chunks,
    Inconclusive,
    client,
    expect,
    expect_answer,
    generating,
    needs_generation,
    run,
)
from contract_tests.streams import open_tool_calls

# Chunks a stopped answer may still send: the closing of its parts and the end of the stream.
TERMINAL_CHUNKS = {
    "abort",
    "finish",
    "finish-step",
    "text-end",
    "reasoning-end",
    "tool-output-error",
    "error",
}
CANCELLED = "Cancelled"
"""The `errorText` the service gives a tool call that a stop cut short."""


@needs_generation
def test_an_answer_streams_whole_to_its_finish() -> None:
    async def body() -> None:
        api = client("a")
        chat = await api.create_chat("contract: whole answer")
        log = await api.read_stream("POST", "/api/chat", json=api.send_body(chat, "Answer in full"))
        expect(
            log.status_code == 200,
            f"a message to one's own idle chat is answered 200, got {log.status_code}",
            log,
        )
        expect(
            bool(log.chunks) and log.types()[-1] == "finish", "an answer left alone ends with `finish`", log
        )
        expect(log.done, "the stream ends with `data: [DONE]`", log)
        expect(not open_tool_calls(log.chunks), "every tool call of a finished answer has a result", log)

    run(body)


@needs_generation
@SUITE.property_test("generation")
@given(after=st.integers(1, 5))
def test_stopped_stream_ends(after: int) -> None:
    async def body() -> None:
        api = client("a")
        chat = await api.create_chat("contract: stream")
        async with generating(api, chat, "A long answer", deltas=after) as generation:
            response = await api.stop(chat.chat_id)
            answered = time.monotonic()
            if json_body(response) == IDLE_ANSWER and generation.finished_by_itself():
                raise Inconclusive("the answer ended by itself before the stop reached it")
            expect_answer(response, STOPPED_ANSWER, "the stop of a streaming answer")
            log = await generation.end(OPTIONS.timeout)
            expect(
                log is not None, f"the stream went on {OPTIONS.timeout:g} s after the stop answered", response
            )
            assert log is not None
            late = [
                chunk.get("type", "?")
                for at, chunk in zip(log.arrivals, log.chunks, strict=False)
                if at > answered + LATE_SLACK and chunk.get("type") not in TERMINAL_CHUNKS
            ]
            expect(
                not late, f"chunks arrived {LATE_SLACK:.2f} s after the stop answered: {late[:5]}", response
            )

    run(body)


TOOL_MOMENTS = {
    "tool-input-start": "while its input streams",
    "tool-input-available": "while it runs",
}


@needs_generation
@SUITE.property_test("generation")
@given(moment=st.sampled_from(sorted(TOOL_MOMENTS)))
def test_a_stop_cancels_every_unfinished_tool_call(moment: str) -> None:
    def tool_open(chunks: Chunks) -> bool:
        return bool(chunks) and chunks[-1].get("type") == moment and bool(open_tool_calls(chunks))

    async def body() -> None:
        api = client("a")
        chat = await api.create_chat("contract: tool")
        reaching = f"call a tool ({moment})"
        async with generating(api, chat, "Look it up", until=tool_open, reaching=reaching) as generation:
            unfinished = open_tool_calls(generation.chunks)
            response = await api.stop(chat.chat_id)
            if json_body(response) == IDLE_ANSWER and generation.finished_by_itself():
                raise Inconclusive("the answer ended by itself before the stop reached it")
            expect_answer(
                response, STOPPED_ANSWER, f"the stop of an answer with a tool call {TOOL_MOMENTS[moment]}"
            )
            log = await generation.end(OPTIONS.timeout)
            expect(
                log is not None, f"the stream went on {OPTIONS.timeout:g} s after the stop answered", response
            )
            assert log is not None
        results = {
            c.get("toolCallId"): c for c in log.chunks if str(c.get("type")).startswith("tool-output-")
        }
        for call_id in unfinished:
            result = results.get(call_id, {})
            expect(
                result.get("type") == "tool-output-error" and result.get("errorText") == CANCELLED,
                f"tool call {call_id!r}, stopped {TOOL_MOMENTS[moment]}, ends with "
                f'{{"type":"tool-output-error","errorText":"{CANCELLED}"}}; got {result or "no result"}',
                log,
            )

    run(body)
