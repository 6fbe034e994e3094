"""Server-sent event framing of an AI SDK UI message stream, as the `ai` package reads it.

A stream is `data: {json chunk}` events ending with `data: [DONE]`, sent with the header
`x-vercel-ai-ui-message-stream: v1`; the `ai` package's `DefaultChatTransport` reads exactly this.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable

from sse_starlette import EventSourceResponse, ServerSentEvent

from mock_server.domain.errors import StreamDropped
from mock_server.domain.models import Chunk

STREAM_HEADERS = {
    "x-vercel-ai-ui-message-stream": "v1",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
}
DONE = "[DONE]"
SEP = "\n"
PING_SECONDS = 15


def _data(chunk: Chunk) -> str:
    return json.dumps(chunk, separators=(",", ":"))


async def _events(chunks: AsyncIterator[Chunk]) -> AsyncIterator[ServerSentEvent]:
    try:
        async for chunk in chunks:
            yield ServerSentEvent(data=_data(chunk), sep=SEP)
    except StreamDropped:
        return  # cut short, as a timed-out response is: no end-of-stream marker
    yield ServerSentEvent(data=DONE, sep=SEP)


def sse_response(chunks: AsyncIterator[Chunk], headers: dict[str, str]) -> EventSourceResponse:
    return EventSourceResponse(
        _events(chunks), headers={**STREAM_HEADERS, **headers}, sep=SEP, ping=PING_SECONDS
    )


def sse_text(chunks: Iterable[Chunk]) -> str:
    """A whole, finished stream as one body (for answers that are not generated live)."""
    events = [_data(chunk) for chunk in chunks] + [DONE]
    return "".join(f"data: {data}{SEP}{SEP}" for data in events)
