"""A message sent while an answer runs, and a client that leaves its answer, as the service treats
them (`lib/chat/maybeResumeChatStream.ts`, `lib/chat/wrapWorkflowStreamWatcher.ts`): the second
send is answered with the running answer's own stream, from its first chunk, and its message is
not kept; a client that leaves the stream it reads cancels the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from contract_tests.rules import (
    OPTIONS,
    TARGET,
    Inconclusive,
    client,
    expect,
    generating,
    needs_generation,
    run,
)

RUN_ID = "x-workflow-run-id"
STREAM_PATH = "/api/chat/{chatId}/stream"
CHAT_PATH = "/api/sessions/{sessionId}/chats/{chatId}"
SECOND = "A second message, sent while the first answer runs"


def _texts(state: dict[str, object]) -> list[str]:
    messages = state.get("messages")
    found = []
    for message in messages if isinstance(messages, list) else []:
        for part in message.get("parts", []) if isinstance(message, dict) else []:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                found.append(part["text"])
    return found


@needs_generation
def test_a_message_sent_while_an_answer_runs_follows_that_answer() -> None:
    async def body() -> None:
        api = client("a")
        chat = await api.create_chat("contract: second send")
        async with generating(api, chat, "A long answer", deltas=1) as generation:
            sent = api.send_body(chat, SECOND)
            async with api.streaming("POST", "/api/chat", json=sent) as (followed, chunks):
                # The second send's answer has begun (its status and headers are in), so the server
                # took it before the stop below, whatever the network's delays.
                if generation.finished_by_itself():
                    raise Inconclusive(
                        "the first answer ended by itself before the second message reached it"
                    )
                reading = asyncio.create_task(_drain(chunks))
                await api.stop(chat.chat_id)
                original = await generation.end(OPTIONS.timeout)
                await asyncio.wait_for(reading, OPTIONS.timeout)
        expect(original is not None, "the stopped answer's stream ended", followed)
        assert original is not None
        same_run = followed.headers.get(RUN_ID) == original.headers.get(RUN_ID)
        followed_it = followed.status_code == 200 and same_run
        if not followed_it and "abort" not in original.types():
            # The first answer was not stopped: it ended on the server as the second message came,
            # though its end had not reached this client yet. A new answer (or the service's 409
            # for a chat freed that very moment) is right then.
            raise Inconclusive("the first answer ended by itself before the second message reached it")
        expect(
            followed.status_code == 200,
            "a message sent while an answer runs is answered with that answer's stream (200), as the "
            f"service does; got {followed.status_code}",
            followed,
        )
        expect(
            followed.headers.get(RUN_ID) == original.headers.get(RUN_ID),
            f"the second send follows the running answer: {RUN_ID} {followed.headers.get(RUN_ID)!r}, "
            f"the answer's {original.headers.get(RUN_ID)!r}",
            followed,
        )
        expect(
            followed.chunks == original.chunks,
            "the second send's stream is the running answer's, from its first chunk: got "
            f"{followed.types()[:8]}, the answer's {original.types()[:8]}",
            followed,
        )
        if chat.session_id is not None and TARGET.has_operation(
            "get", "/api/sessions/{sessionId}/chats/{chatId}"
        ):
            kept = _texts(await api.chat_state(chat))
            expect(SECOND not in kept, "a message sent while an answer runs is not kept", followed)

    run(body)


async def _drain(chunks: AsyncIterator[dict[str, Any]]) -> None:
    async for _ in chunks:
        pass


@needs_generation
@pytest.mark.skipif(not TARGET.has_operation("get", STREAM_PATH), reason="the contract judged has no resume")
def test_a_client_that_leaves_its_answer_cancels_it() -> None:
    async def body() -> None:
        api = client("a")
        chat = await api.create_chat("contract: leaving")
        async with api.streaming("POST", "/api/chat", json=api.send_body(chat, "A long answer")) as (
            log,
            chunks,
        ):
            async for chunk in chunks:
                if str(chunk.get("type")).endswith("-delta"):
                    break
        if log.chunks and log.chunks[-1].get("type") == "finish":
            raise Inconclusive("the answer ended by itself before its client left")
        # Left. The rest of the answer, if it goes on, is what a resume reads now.
        rest = await api.read_stream("GET", STREAM_PATH.replace("{chatId}", chat.chat_id))
        # A server that let the answer go on is stopped, so that the chat is left idle.
        await api.stop(chat.chat_id)
        expect(
            rest.status_code == 204 or "abort" in rest.types(),
            "an answer whose client left it is cancelled, as the service does: it went on to "
            f"{rest.types()[-3:]} without `abort`",
            rest,
        )

    run(body)
