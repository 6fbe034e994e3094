"""How an answer streams, as a client sees it: time to first content, delta rates, a tool's wait.

Each answer is a sent message on its own raw asyncio connection (no HTTP client library, whose
pool would add its own delay), read to its end; every chunk's arrival is timed from the moment the
request was written. The answers run at once, on chats of one session.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field

from loopback import HOST

TIMEOUT = 60.0
CONTENT = ("reasoning-start", "text-start", "tool-input-start", "data-")


@dataclass
class Answer:
    """The chunks of one answer and when each arrived, in seconds after the request was written."""

    chunks: list[tuple[float, str]] = field(default_factory=list)

    def first(self, *prefixes: str) -> float:
        return next(at for at, kind in self.chunks if kind.startswith(prefixes))

    def rate(self, kind: str) -> float:
        """Chunks of `kind` per second, from the first of them to the last."""
        times = [at for at, k in self.chunks if k == kind]
        return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else float("nan")

    @property
    def tool_wait(self) -> float:
        return self.first("tool-output-") - self.first("tool-input-available")

    @property
    def total(self) -> float:
        return self.chunks[-1][0]


@dataclass
class Pacing:
    answers: list[Answer]

    def median(self, value: str) -> float:
        figures = {
            "first_content_s": [a.first(*CONTENT) for a in self.answers],
            "reasoning_deltas_per_s": [a.rate("reasoning-delta") for a in self.answers],
            "text_deltas_per_s": [a.rate("text-delta") for a in self.answers],
            "tool_wait_s": [a.tool_wait for a in self.answers],
            "answer_s": [a.total for a in self.answers],
        }[value]
        return statistics.median(figures)

    def summary(self) -> dict[str, float]:
        names = ("first_content_s", "reasoning_deltas_per_s", "text_deltas_per_s", "tool_wait_s", "answer_s")
        return {name: self.median(name) for name in names}


async def _exchange(port: int, method: str, path: str, key: str, body: object) -> tuple[bytes, Answer]:
    reader, writer = await asyncio.open_connection(HOST, port)
    payload = json.dumps(body).encode()
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nx-api-key: {key}\r\ncontent-type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    ).encode()
    writer.write(head + payload)
    await writer.drain()
    sent = time.perf_counter()
    answer = Answer()
    raw = b""
    try:
        async with asyncio.timeout(TIMEOUT):
            while line := await reader.readline():
                raw += line
                if line.startswith(b"data: {"):
                    kind = json.loads(line[6:]).get("type", "?")
                    answer.chunks.append((time.perf_counter() - sent, kind))
    finally:
        writer.close()
    return raw, answer


async def measure(port: int, key: str, answers: int) -> Pacing:
    """Send `answers` messages at once, each to its own new chat, and time each answer's chunks."""
    raw, _ = await _exchange(port, "POST", "/api/sessions", key, {"title": "pacing"})
    session = json.loads(raw.split(b"\r\n\r\n", 1)[1])["session"]["id"]
    chats = []
    for _ in range(answers):
        raw, _ = await _exchange(port, "POST", f"/api/sessions/{session}/chats", key, {})
        chats.append(json.loads(raw.split(b"\r\n\r\n", 1)[1])["chat"]["id"])

    async def send(chat: str) -> Answer:
        message = {"id": "m1", "role": "user", "parts": [{"type": "text", "text": "Plan my tour"}]}
        body = {"sessionId": session, "chatId": chat, "messages": [message]}
        _, answer = await _exchange(port, "POST", "/api/chat", key, body)
        return answer

    return Pacing(list(await asyncio.gather(*(send(chat) for chat in chats))))
