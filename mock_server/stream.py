"""The Vercel AI SDK v6 "UI message stream": the chunks of a text answer and their SSE framing.

A stream is `data: {json chunk}` events ending with `data: [DONE]`, sent with the header
`x-vercel-ai-ui-message-stream: v1`; the `ai` package's `DefaultChatTransport` reads exactly this.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import AsyncIterator, Iterable, Iterator

from sse_starlette import EventSourceResponse, ServerSentEvent

from mock_server.models import Chunk

STREAM_HEADERS = {"x-vercel-ai-ui-message-stream": "v1", "cache-control": "no-cache"}
DONE = "[DONE]"
SEP = "\n"
PING_SECONDS = 15
MAX_REPEATED_DELTAS = 20_000
"""Upper bound on an endless (repeating) answer, so a forgotten demo stream ends by itself."""


def words(text: str) -> list[str]:
    """Split `text` into deltas that concatenate back to it (each word with its trailing space)."""
    return re.findall(r"\S+\s*", text) or [text]


def text_answer(message_id: str, text: str, *, repeat: bool = False) -> Iterator[Chunk]:
    """The chunks of an assistant message made of one text part."""
    part_id = f"{message_id}-text"
    yield {"type": "start", "messageId": message_id}
    yield {"type": "start-step"}
    yield {"type": "text-start", "id": part_id}
    deltas = words(text)
    if repeat:
        deltas = list(itertools.islice(itertools.cycle(deltas), MAX_REPEATED_DELTAS))
    for delta in deltas:
        yield {"type": "text-delta", "id": part_id, "delta": delta}
    yield {"type": "text-end", "id": part_id}
    yield {"type": "finish-step"}
    yield {"type": "finish"}


ABORT: Chunk = {"type": "abort"}


def error_chunk(text: str) -> Chunk:
    return {"type": "error", "errorText": text}


def text_of(chunks: list[Chunk]) -> str:
    return "".join(c["delta"] for c in chunks if c.get("type") == "text-delta")


async def _events(chunks: AsyncIterator[Chunk]) -> AsyncIterator[ServerSentEvent]:
    async for chunk in chunks:
        yield ServerSentEvent(data=json.dumps(chunk, separators=(",", ":")), sep=SEP)
    yield ServerSentEvent(data=DONE, sep=SEP)


def sse_response(chunks: AsyncIterator[Chunk], headers: dict[str, str]) -> EventSourceResponse:
    return EventSourceResponse(
        _events(chunks), headers={**STREAM_HEADERS, **headers}, sep=SEP, ping=PING_SECONDS
    )


def sse_text(chunks: Iterable[Chunk]) -> str:
    """A whole, finished stream as one body (for answers that are not generated live)."""
    events = [json.dumps(chunk, separators=(",", ":")) for chunk in chunks] + [DONE]
    return "".join(f"data: {data}{SEP}{SEP}" for data in events)
