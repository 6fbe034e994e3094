"""The resume of an answer (`GET /api/chat/{chatId}/stream`) as the frontend's transport uses it.

`WorkflowChatTransport` of `@workflow/ai` reads a 204 as "nothing to resume" and anything else as
a stream to follow (a 200 with an empty stream sends it into its reconnect loop), and resumes a
broken stream at `x-workflow-stream-tail-index + 1`. So: 204 with no body when nothing runs (never
started, stopped, finished), and while an answer runs, its own stream from `startIndex` on, chunk
for chunk, under the same `x-workflow-run-id` (`lib/chat/handleResumeChatStream.ts`).
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from contract_tests.client import ChatRef, RecoupClient
from contract_tests.rules import (
    GENERATION_UNAVAILABLE,
    OPTIONS,
    SUITE,
    TARGET,
    Chunks,
    Inconclusive,
    client,
    expect,
    expect_error,
    generating,
    needs_generation,
    run,
)

STREAM_PATH = "/api/chat/{chatId}/stream"
_UNAVAILABLE = (
    None
    if TARGET.has_operation("get", STREAM_PATH) and TARGET.has_operation("post", "/api/sessions")
    else "the judged contract has no GET /api/chat/{chatId}/stream, or no way to make a chat"
)
needs_resume = pytest.mark.skipif(_UNAVAILABLE is not None, reason=_UNAVAILABLE or "")
RUN_ID = "x-workflow-run-id"
TAIL_INDEX = "x-workflow-stream-tail-index"
WHEN = ["never run"] if GENERATION_UNAVAILABLE else ["never run", "stopped", "finished"]
FINISH_WITHIN = max(60.0, 6 * OPTIONS.timeout)
"""How long an answer left alone may take to finish before the `finished` case is left undecided."""


def stream_path(chat: ChatRef, start: str | None = None) -> str:
    path = f"/api/chat/{urllib.parse.quote(chat.chat_id, safe='')}/stream"
    return path if start is None else f"{path}?{urllib.parse.urlencode({'startIndex': start})}"


async def _ended(api: RecoupClient, chat: ChatRef, when: str) -> None:
    """Leave `chat` with an answer that `when` says: none, one stopped, or one finished."""
    if when == "stopped":
        async with generating(api, chat, "A long answer", deltas=1) as generation:
            await api.stop(chat.chat_id)
            if await generation.end(OPTIONS.timeout) is None:
                expect(
                    False,
                    f"the stopped answer's stream went on {OPTIONS.timeout:g} s after the stop",
                    timed_out=True,
                )
    elif when == "finished":
        reading = api.read_stream("POST", "/api/chat", json=api.send_body(chat, "A short answer"))
        try:
            await asyncio.wait_for(reading, FINISH_WITHIN)
        except TimeoutError:
            await api.stop(chat.chat_id)
            raise Inconclusive(f"the answer did not finish within {FINISH_WITHIN:g} s") from None


def _examples(test: Any) -> Any:
    for when in WHEN:
        test = example(when=when)(test)
    return test


@needs_resume
@SUITE.property_test("generation")
@_examples
@given(when=st.sampled_from(WHEN))
def test_a_resume_with_nothing_running_is_204_with_no_body(when: str) -> None:
    async def body() -> None:
        api = client("a")
        chat = await api.create_chat("contract: resume")
        await _ended(api, chat, when)
        response = await api.request("GET", stream_path(chat))
        expect(
            response.status_code == 204,
            f"a resume of a chat whose answer {'never ran' if when == 'never run' else f'was {when}'} "
            "is 204 (nothing to resume); the frontend's transport follows anything else as a stream",
            response,
        )
        expect(not response.content, "a 204 resume has no body", response)

    run(body)


@needs_resume
@needs_generation
@SUITE.property_test("generation")
@given(start=st.integers(0, 8))
def test_a_resume_is_the_running_answer_from_its_start_index(start: int) -> None:
    def past_start(chunks: Chunks) -> bool:
        return len(chunks) > start

    async def body() -> None:
        api = client("a")
        chat = await api.create_chat("contract: resume")
        reaching = f"send {start + 1} chunks"
        async with (
            generating(api, chat, "A long answer", until=past_start, reaching=reaching) as generation,
            api.streaming("GET", stream_path(chat, str(start))) as (resumed, chunks),
        ):
            # The resume is answered before the stop is sent: requests on two connections reach a
            # server in no set order, and a resume it took after the stop is rightly a 204.
            if resumed.status_code == 204:
                raise Inconclusive("the answer ended by itself before the resume reached it")
            reading = asyncio.create_task(_read_to_end(chunks))
            await api.stop(chat.chat_id)
            original = await generation.end(OPTIONS.timeout)
            await asyncio.wait_for(reading, OPTIONS.timeout)
        expect(original is not None, "the stopped answer's stream ended", resumed)
        assert original is not None
        expect(
            resumed.status_code == 200,
            f"a resume of a running answer is 200, got {resumed.status_code}",
            resumed,
        )
        expect(
            resumed.headers.get(RUN_ID) == original.headers.get(RUN_ID),
            f"a resume is the same run: {RUN_ID} {resumed.headers.get(RUN_ID)!r}, the send's "
            f"{original.headers.get(RUN_ID)!r}",
            resumed,
        )
        expect(
            resumed.chunks == original.chunks[start:],
            f"a resume from startIndex={start} is the answer from its chunk {start} on, chunk for chunk: "
            f"got {resumed.types()[:8]}, the answer from there is "
            f"{[c.get('type') for c in original.chunks[start : start + 8]]}",
            resumed,
        )
        tail = resumed.headers.get(TAIL_INDEX)
        if tail is not None:
            expect(
                tail.isdigit() and start <= int(tail) < len(original.chunks),
                f"{TAIL_INDEX} is the index of a chunk the run had when the resume began (from "
                f"{start} to {len(original.chunks) - 1}); got {tail!r}",
                resumed,
            )

    run(body)


async def _read_to_end(chunks: AsyncIterator[dict[str, Any]]) -> None:
    async for _ in chunks:
        pass


BAD_START_INDEXES = ["-1", "abc", "1.5", "", "-0.5", "2x"]


@needs_resume
@SUITE.property_test("cheap")
@given(value=st.sampled_from(BAD_START_INDEXES))
def test_a_start_index_that_is_not_a_non_negative_integer_is_400(value: str) -> None:
    async def body() -> None:
        api = client("a")
        chat = await api.create_chat("contract: resume")
        response = await api.request("GET", stream_path(chat, value), validate=False)
        expect_error(response, 400, f"a resume with startIndex={value!r}")

    run(body)
