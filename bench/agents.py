"""The `agents` part: the stop of N default agent answers started over the API, as a user meets it.

The mock runs as users start it: default flags (access log and request journal on, the default
pacing), only a seed of two accounts with their keys and no sessions. For each of N chats the
client does what the frontend does: `POST /api/sessions` (a session and its first chat), then
`POST /api/chat` with `{messages, chatId, sessionId}`, and reads the answer (an AI SDK UI message
stream over SSE, `data: {...}` lines ending with `data: [DONE]`) on its own raw connection, with
bench/streams.py's reader. With no seeded answer, the mock answers the default agent answer:
reasoning, a tool call, text, at about 40 deltas a second.

Once every stream has shown content (its first `reasoning-delta` or `text-delta`), every chat is
stopped at once, each stop on its own connection opened beforehand, and each stream is timed from
its stop's writing to its `[DONE]`. Sends beyond the mock's default `--max-generations` would be
refused (429); the row says so rather than raising the bound: it reports what a user gets.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field

from bench import seeds, streams
from bench.parts import Context
from bench.procs import serving
from bench.report import Row
from bench.tools import ROOT, say
from loopback import HOST, ServerFailed, free_port

CONTENT = (b'"type":"reasoning-delta"', b'"type":"text-delta"')
"""A stream has shown content once one of these chunks arrived (the mock writes compact JSON)."""
MESSAGE = {"id": "m1", "role": "user", "parts": [{"type": "text", "text": "Plan my tour"}]}


async def _exchange(port: int, method: str, path: str, key: str, body: object) -> tuple[int, bytes]:
    """One request on its own connection, read to the server's close: the status and the body."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(streams.request(method, path, key, json.dumps(body).encode()))
        raw = await asyncio.wait_for(reader.read(), streams.TIMEOUT)
    finally:
        writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), payload


async def new_chat(port: int, key: str) -> tuple[str, str]:
    """A new session and its first chat, as the frontend makes them: (session id, chat id)."""
    status, payload = await _exchange(port, "POST", "/api/sessions", key, {})
    if status != 200:
        raise ServerFailed(f"POST /api/sessions answered {status}: {payload[:200]!r}")
    made = json.loads(payload)
    return made["session"]["id"], made["chat"]["id"]


@dataclass
class AgentsResult:
    """What `streams.stop_all` measured, and the statuses of sends not answered 200."""

    result: streams.StreamsResult
    refused: dict[int, int] = field(default_factory=dict)
    stops_after_s: float = math.nan
    """Seconds from the sends' writing to the first stop's: until every stream showed content."""


async def measure(port: int, key: str, count: int) -> AgentsResult:
    """`count` new chats, a message sent to each at once, every answer stopped once all stream."""
    chats = await asyncio.gather(*(new_chat(port, key) for _ in range(count)))
    connections = await asyncio.gather(*(asyncio.open_connection(HOST, port) for _ in chats))
    opened: list[streams.Stream] = []
    for (session, chat), (reader, writer) in zip(chats, connections, strict=True):
        body = json.dumps({"messages": [MESSAGE], "chatId": chat, "sessionId": session}).encode()
        writer.write(streams.request("POST", "/api/chat", key, body))
        opened.append(streams.Stream(chat, reader, writer, content=CONTENT))
    sent = time.perf_counter()  # the clock of Stream's times
    result = await streams.stop_all(port, opened, key)
    stops = [s.stop_sent_at for s in opened if s.stop_sent_at is not None]
    first_stop = min(stops) if stops else math.nan
    refused = Counter(s.status for s in opened if s.status != 200)
    return AgentsResult(result, dict(refused), first_stop - sent)


def _ms(value: float) -> float | None:
    return None if math.isnan(value) else value


def agents_part(ctx: Context) -> list[Row]:
    """Stop-to-stream-end of `ctx.streams` default agent answers sent over the API, default flags."""
    count = ctx.streams
    seed_file = seeds.write(seeds.bare_seed(), ctx.work / "agents.json")
    port = free_port()
    name = "recoup-mock serve (default flags)"
    with serving(name, ctx.mock(port, seed_file, []), port, cwd=ROOT) as server:
        say(f"agents: {server.name}: {count} chats made and sent a message, all stopped once all stream")
        measured = asyncio.run(measure(port, seeds.KEY_A, count))
    result = measured.result
    bound = ctx.tools.mock_max_generations
    notes = []
    if bound and count > bound:
        notes.append(f"{count} exceeds the default --max-generations {bound}: sends beyond it get 429")
    if measured.refused:
        refusals = ", ".join(f"{n} answered {status}" for status, n in sorted(measured.refused.items()))
        notes.append(f"sends refused: {refusals}")
    other = (
        f"{result.ended}/{count} ended after their stops ({result.with_done} with [DONE], "
        f"{result.opened} streaming before), {result.stopped_true} stopped:true; "
        f"stops sent {measured.stops_after_s:.2f} s after the messages; stop answered p50 "
        f"{result.answer_p(50):.0f} ms, p99 {result.answer_p(99):.0f} ms; "
        + "".join(f"{note}; " for note in notes)
        + "target p99 < 100 ms"
    )
    values = {**vars(result), "refused": measured.refused, "stops_after_s": measured.stops_after_s}
    measure_name = f"stop → stream end, {count} default agent answers sent over the API"
    return [Row(measure_name, name, None, _ms(result.end_p(50)), _ms(result.end_p(99)), other, values=values)]
