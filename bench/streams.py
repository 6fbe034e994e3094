"""Stop-to-stream-end with many open streams, each on its own raw asyncio connection.

Every stream (`GET /api/chat/{id}/stream` of a seeded generating chat here, a sent message's
`POST /api/chat` in bench/agents.py) has its own TCP connection and a reader that drains it from
the start; every stop has its own connection too, opened before the stops are sent. Then all stops
are written at once, and each stream's time is from the moment its own stop was written to the
moment its `data: [DONE]` (or the connection's end) was read. No HTTP client library is involved:
a shared pool queues the streams and adds its own delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass, field

from loopback import HOST

TIMEOUT = 30.0
TAIL = 64
"""Bytes of one read kept for the next: more than the longest marker looked for."""


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def request(method: str, path: str, key: str, body: bytes = b"") -> bytes:
    """One HTTP/1.1 request, the connection closed after its answer; a body is sent as JSON."""
    kind = "Content-Type: application/json\r\n" if body else ""
    return (
        f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nx-api-key: {key}\r\n{kind}"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


@dataclass
class Stream:
    chat: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    first_chunk: asyncio.Event = field(default_factory=asyncio.Event)
    status: int = 0
    saw_done: bool = False
    ended_at: float | None = None
    stop_sent_at: float | None = None
    stop_answered_at: float | None = None
    stop_answer: bytes = b""
    content: tuple[bytes, ...] = (b"data:",)
    """What counts as the stream's first content (sets `first_chunk`): any chunk, by default."""

    async def follow(self) -> None:
        """Drain the stream from the start; note when its first content and its end arrive."""
        head, tail = b"", b""
        try:
            while True:
                data = await self.reader.read(65536)
                now = time.perf_counter()
                if not data:
                    self.ended_at = now
                    return
                if not self.status:
                    head += data
                    if b"\r\n" in head:
                        self.status = int(head.split(b" ", 2)[1])
                        if self.status != 200:
                            self.ended_at = now
                            return
                window = tail + data
                if any(marker in window for marker in self.content):
                    self.first_chunk.set()
                if b"[DONE]" in window:
                    self.saw_done, self.ended_at = True, now
                    return
                tail = window[-TAIL:]  # a marker split between two reads is still seen
        finally:
            self.first_chunk.set()
            self.writer.close()


async def _stop(stream: Stream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: str) -> None:
    writer.write(request("POST", f"/api/chat/{stream.chat}/stop", key))
    stream.stop_sent_at = time.perf_counter()
    try:
        answer = await reader.read(65536)
        stream.stop_answered_at = time.perf_counter()
        while data := await reader.read(65536):  # the whole answer, up to the server's close
            answer += data
        stream.stop_answer = answer
    finally:
        writer.close()


@dataclass
class StreamsResult:
    opened: int
    ended: int
    with_done: int
    stopped_true: int
    end_ms: list[float]
    stop_answer_ms: list[float]

    def end_p(self, p: float) -> float:
        return percentile(self.end_ms, p)

    def answer_p(self, p: float) -> float:
        return percentile(self.stop_answer_ms, p)


async def measure(port: int, chats: list[str], key: str) -> StreamsResult:
    """Open one stream per chat, wait for each one's first chunk, stop them all at once."""
    connections = await asyncio.gather(*(asyncio.open_connection(HOST, port) for _ in chats))
    streams = [Stream(chat, r, w) for chat, (r, w) in zip(chats, connections, strict=True)]
    for stream in streams:
        stream.writer.write(request("GET", f"/api/chat/{stream.chat}/stream", key))
    return await stop_all(port, streams, key)


async def stop_all(port: int, streams: list[Stream], key: str) -> StreamsResult:
    """Follow `streams` (their requests written), wait for each one's first content, then stop every
    chat at once, each on its own connection opened beforehand; time each stream's end."""
    followers = [asyncio.create_task(stream.follow()) for stream in streams]
    await asyncio.wait_for(asyncio.gather(*(s.first_chunk.wait() for s in streams)), TIMEOUT)
    opened = sum(1 for s in streams if s.status == 200 and s.ended_at is None)
    stop_connections = await asyncio.gather(*(asyncio.open_connection(HOST, port) for _ in streams))
    stoppers = [
        asyncio.create_task(_stop(stream, r, w, key))
        for stream, (r, w) in zip(streams, stop_connections, strict=True)
    ]
    _, pending = await asyncio.wait([*followers, *stoppers], timeout=TIMEOUT)
    for task in pending:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*pending, return_exceptions=True)
    end_ms = [
        (s.ended_at - s.stop_sent_at) * 1000
        for s in streams
        if s.ended_at is not None and s.stop_sent_at is not None and s.ended_at >= s.stop_sent_at
    ]
    answer_ms = [
        (s.stop_answered_at - s.stop_sent_at) * 1000
        for s in streams
        if s.stop_answered_at is not None and s.stop_sent_at is not None
    ]
    return StreamsResult(
        opened=opened,
        ended=len(end_ms),
        with_done=sum(1 for s in streams if s.saw_done),
        stopped_true=sum(
            1 for s in streams if b'"stopped": true' in s.stop_answer.replace(b'":true', b'": true')
        ),
        end_ms=end_ms,
        stop_answer_ms=answer_ms,
    )
