"""The rules of a streamed answer and of a stop that cuts one short, as properties.

Every chunk any rule reads is checked as it arrives: valid against the contract's `UIMessageChunk`
schema and in an order every AI SDK v6 client can assemble (`contract_tests.streams`). These rules
add what only a whole answer, or a stop at a chosen point of one, shows: an answer ends with
`finish`, a stopped one ends at once, and its tool calls without a result are cancelled.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from contract_judge.streams import CLOSING_CHUNKS, begun_tool_calls, open_tool_calls
from contract_tests.client import SetupUnavailable, json_body
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

CANCELLED = "Cancelled"
"""The `errorText` the service gives a tool call that a stop cut short."""
WHOLE_ANSWER_SECONDS = max(60.0, 6 * OPTIONS.timeout)
"""How long an answer left alone may stream before it is taken for one that streams until stopped."""


@needs_generation
def test_an_answer_streams_whole_to_its_finish() -> None:
    async def body() -> None:
        api = client("a")
        chat = await api.create_chat("contract: whole answer")
        reading = api.read_stream("POST", "/api/chat", json=api.send_body(chat, "Answer in full"))
        try:
            log = await asyncio.wait_for(reading, WHOLE_ANSWER_SECONDS)
        except TimeoutError:
            await api.stop(chat.chat_id)
            raise SetupUnavailable(
                f"the answer did not end within {WHOLE_ANSWER_SECONDS:g} s: an answer that streams "
                "until stopped cannot be judged whole"
            ) from None
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
                log is not None,
                f"the stream went on {OPTIONS.timeout:g} s after the stop answered",
                response,
                timed_out=True,
            )
            assert log is not None
            late = [
                chunk.get("type", "?")
                for at, chunk in zip(log.arrivals, log.chunks, strict=False)
                if at > answered + LATE_SLACK and chunk.get("type") not in CLOSING_CHUNKS
            ]
            expect(
                not late, f"chunks arrived {LATE_SLACK:.2f} s after the stop answered: {late[:5]}", response
            )

    run(body)


TOOL_MOMENTS = {
    "tool-input-start": "while its input streams",
    "tool-input-available": "while it runs",
    "tool-output-available": "after it finished",
}


@needs_generation
@SUITE.property_test("generation")
@given(moment=st.sampled_from(sorted(TOOL_MOMENTS)))
def test_a_stop_cancels_every_unfinished_tool_call(moment: str) -> None:
    def at_moment(chunks: Chunks) -> bool:
        return bool(chunks) and chunks[-1].get("type") == moment

    async def body() -> None:
        api = client("a")
        chat = await api.create_chat("contract: tool")
        when = TOOL_MOMENTS[moment]
        reaching = f"call a tool (`{moment}`)"
        async with generating(api, chat, "Look it up", until=at_moment, reaching=reaching) as generation:
            stop_sent = time.monotonic()
            response = await api.stop(chat.chat_id)
            if json_body(response) == IDLE_ANSWER and generation.finished_by_itself():
                raise Inconclusive("the answer ended by itself before the stop reached it")
            expect_answer(response, STOPPED_ANSWER, f"the stop of an answer with a tool call {when}")
            log = await generation.end(OPTIONS.timeout)
            expect(
                log is not None,
                f"the stream went on {OPTIONS.timeout:g} s after the stop answered",
                response,
                timed_out=True,
            )
            assert log is not None
        results: dict[str, list[tuple[float, dict[str, Any]]]] = {}
        for at, chunk in zip(log.arrivals, log.chunks, strict=False):
            if str(chunk.get("type")).startswith("tool-output-"):
                results.setdefault(str(chunk.get("toolCallId")), []).append((at, chunk))
        for call_id in begun_tool_calls(log.chunks):
            got = results.get(call_id, [])
            expect(
                len(got) == 1,
                f"tool call {call_id!r} (stopped {when}) has exactly one result; got "
                f"{[c for _, c in got] or 'none'}",
                log,
            )
            at, result = got[0]
            if at > stop_sent and result.get("type") == "tool-output-error":
                expect(
                    result.get("errorText") == CANCELLED,
                    f"tool call {call_id!r}, cut short by the stop, ends with "
                    f'{{"type":"tool-output-error","errorText":"{CANCELLED}"}}; got {result}',
                    log,
                )

    run(body)
