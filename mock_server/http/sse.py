"""Server-sent event framing of an AI SDK UI message stream, as the `ai` package reads it.

A stream is `data: {json chunk}` events ending with `data: [DONE]`, sent with the header
`x-vercel-ai-ui-message-stream: v1`; the `ai` package's `DefaultChatTransport` reads exactly this.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable

from sse_starlette import EventSourceResponse
from starlette.types import Message, Send

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


def _event(data: str) -> bytes:
    # JSON text holds no line break (json.dumps escapes them), so one `data:` line carries it all:
    # the event sse-starlette's `ServerSentEvent(data)` would encode, built without its line split.
    return f"data: {data}{SEP}{SEP}".encode()


_DONE_EVENT = _event(DONE)


async def _events(chunks: AsyncIterator[Chunk]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield _event(_data(chunk))
    except StreamDropped:
        return  # cut short, as a timed-out response is: no end-of-stream marker
    yield _DONE_EVENT


class UIMessageStream(EventSourceResponse):
    """sse-starlette's response (pings, client disconnects, server shutdown), each event sent
    without a cancel scope of its own when, as here, no send has a time limit."""

    async def _send_with_timeout(self, send: Send, message: Message) -> None:
        if self.send_timeout is not None:
            await super()._send_with_timeout(send, message)
            return
        try:
            await send(message)
        except BaseException:
            self._send_interrupted = True  # as sse-starlette marks it: the stream did not end whole
            raise


def sse_response(chunks: AsyncIterator[Chunk], headers: dict[str, str]) -> EventSourceResponse:
    return UIMessageStream(_events(chunks), headers={**STREAM_HEADERS, **headers}, sep=SEP, ping=PING_SECONDS)


def sse_text(chunks: Iterable[Chunk]) -> str:
    """A whole, finished stream as one body (for answers that are not generated live)."""
    events = [_data(chunk) for chunk in chunks] + [DONE]
    return "".join(f"data: {data}{SEP}{SEP}" for data in events)
