"""Raw HTTP/1.1 exchanges over asyncio streams: a case's steps (bytes, pauses, a close, a reset),
what came back, and how the soak judges it."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from tests.soak.server import KEY_A
from tests.soak.tally import DELIBERATE, Tally

READ_TIMEOUT = 4.0
"""The longest a raw exchange waits for an answer the server owes; longer is a hang."""


@dataclass(frozen=True)
class Pause:
    seconds: float


class Close:
    """The client closes its socket (FIN) without reading anything."""


class Abort:
    """The client resets its connection (RST) without reading anything."""


class HalfClose:
    """The client ends its side (FIN) and still reads the answer."""


Step = bytes | Pause | type[Close] | type[Abort] | type[HalfClose]


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class RawResult:
    responses: list[RawResponse] = field(default_factory=list)
    closed: bool = False
    """The server closed the connection (or reset it) after its answers."""
    timed_out: bool = False
    """Nothing more came within the read timeout and the connection stayed open."""
    left: bool = False
    """The client left (Close, Abort) without reading."""
    error: str = ""


async def _read_response(reader: asyncio.StreamReader, timeout: float, head_only: bool) -> RawResponse:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    status_line, *lines = head.decode("latin-1").split("\r\n")[:-2]
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    status = int(status_line.split()[1])
    body = b""
    if head_only or status < 200 or status in (204, 304):
        pass
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await asyncio.wait_for(reader.readuntil(b"\r\n"), timeout)).split(b";")[0], 16)
            body += (await asyncio.wait_for(reader.readexactly(size + 2), timeout))[:-2]
            if size == 0:
                break
    elif "content-length" in headers:
        body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), timeout)
    else:
        body = await asyncio.wait_for(reader.read(), timeout)
    return RawResponse(status, headers, body)


async def exchange(
    port: int, steps: list[Step], timeout: float = READ_TIMEOUT, answers: int = 1
) -> RawResult:
    """Send `steps` on one new connection while reading what comes back: up to `answers` final
    answers (and any 1xx before them), then whether the server closes the connection. A client that
    leaves (Close, Abort) reads nothing."""
    result = RawResult()
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    head_only = isinstance(steps[0], bytes) and steps[0].startswith(b"HEAD ")
    sending = asyncio.create_task(_send(writer, steps, result))
    try:
        if any(step in (Close, Abort) for step in steps):
            with contextlib.suppress(ConnectionError, OSError, TimeoutError):
                await asyncio.wait_for(sending, timeout)
            return result
        if not await _read_answers(reader, result, timeout, head_only, answers):
            return result
        # Everything is sent (a 10 MiB body whole) unless the server closed on it.
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            await asyncio.wait_for(asyncio.shield(sending), timeout)
        if result.responses[-1].headers.get("connection", "").lower() == "close":
            await _read_close(reader, result)
        return result
    finally:
        if sending.done() and not sending.cancelled() and sending.exception() is not None:
            result.error = result.error or f"sending: {type(sending.exception()).__name__}"
        sending.cancel()
        with contextlib.suppress(BaseException):
            await sending
        writer.transport.abort()


async def _send(writer: asyncio.StreamWriter, steps: list[Step], result: RawResult) -> None:
    for step in steps:
        if isinstance(step, bytes):
            writer.write(step)
            await writer.drain()
        elif isinstance(step, Pause):
            await asyncio.sleep(step.seconds)  # the client's own pace is the case
        elif step is HalfClose:
            writer.write_eof()
        elif step is Close:
            result.left = True
            writer.close()
        elif step is Abort:
            result.left = True
            writer.transport.abort()


async def _read_answers(
    reader: asyncio.StreamReader, result: RawResult, timeout: float, head_only: bool, answers: int
) -> bool:
    """Read up to `answers` final answers into `result`; False if the connection ended first."""
    final = 0
    while final < answers:
        try:
            response = await _read_response(reader, timeout, head_only)
        except TimeoutError:
            result.timed_out = True
            return False
        except asyncio.IncompleteReadError as exc:
            result.closed = True
            if exc.partial:
                result.error = f"an answer cut short: {exc.partial[:120]!r}"
            return False
        except (ConnectionError, OSError):
            result.closed = True
            return False
        except (ValueError, IndexError, asyncio.LimitOverrunError) as exc:
            result.error = f"an answer that is not HTTP: {exc}"
            return False
        result.responses.append(response)
        if response.status >= 200:
            final += 1
    return True


async def _read_close(reader: asyncio.StreamReader, result: RawResult) -> None:
    """After an answer saying `Connection: close`: whether the server does close."""
    try:
        result.closed = await asyncio.wait_for(reader.read(), 1.0) == b""
    except (ConnectionError, OSError):
        result.closed = True
    except TimeoutError:
        result.error = "Connection: close, yet the connection stayed open"


@dataclass(frozen=True)
class RawCase:
    name: str
    steps: list[Step]
    expect: frozenset[int] | None = None
    """The statuses the first answer may have (None: any but 5xx)."""
    required: bool = False
    """A status outside `expect` fails the soak (else it is a finding)."""
    answer_due: bool = True
    """The server owes an answer (the client neither leaves nor stops half-way)."""
    answers: int = 1
    """How many answers to read (more than one for pipelined requests)."""

    def describe(self) -> str:
        sent = b"".join(s for s in self.steps if isinstance(s, bytes))
        tail = [getattr(s, "__name__", type(s).__name__) for s in self.steps if not isinstance(s, bytes)]
        shown = sent if len(sent) <= 240 else sent[:200] + b"...(%d bytes in all)" % len(sent)
        return f"{shown!r}" + (f" then {', '.join(tail)}" if tail else "")


def judge(case: RawCase, result: RawResult, tally: Tally, rss_growth: int) -> str:
    """Tally what one raw case got back; its line for the report."""
    request = f"{case.name}: {case.describe()}"
    tally.count("raw socket")
    statuses = [r.status for r in result.responses]
    for response in result.responses:
        tally.answer(
            "raw socket", response.status, request, response.body, response.headers.get("content-type", "")
        )
    if result.left:
        tally.answer("raw socket (client left)", None, "")
    elif result.timed_out and case.answer_due:
        tally.fail(f"[raw] no answer and the connection stays open (a hang): {request}")
    elif not result.responses:
        tally.answer("raw socket", None, "")
        if case.answer_due:
            tally.note(f"[raw] the connection was closed without an answer: {request}")
    if result.error.startswith(("an answer", "Connection: close")):
        tally.fail(f"[raw] {result.error}: {request}")
    first = next((s for s in statuses if s >= 200), None)
    server_error = first is not None and first >= 500 and first not in DELIBERATE
    if case.expect is not None and first is not None and first not in case.expect and not server_error:
        (tally.fail if case.required else tally.note)(
            f"[raw] {first}, expected {sorted(case.expect)}: {request}"
        )
    if case.required and first is None and not result.left:
        tally.fail(f"[raw] no answer, expected {sorted(case.expect or ())}: {request}")
    how = "client left" if result.left else "closed" if result.closed else "keep-alive"
    if result.timed_out:
        how = f"no answer in {READ_TIMEOUT:g} s"
    line = f"  {case.name:72s} {','.join(map(str, statuses)) or '-':>8s}  {how} {result.error}"
    if "10 MiB" in case.name:
        line += f"  (server RSS {rss_growth:+d} KiB)"
        if rss_growth >= 10 * 1024:
            tally.fail(f"[raw] the server's RSS grew by {rss_growth} KiB: it held the body: {request}")
    return line


def _head(
    method: bytes, target: bytes, *headers: bytes, version: bytes = b"HTTP/1.1", key: bool = True
) -> bytes:
    lines = [method + b" " + target + b" " + version, b"Host: 127.0.0.1"]
    if key:
        lines.append(b"x-api-key: " + KEY_A.encode())
    lines += headers
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _post(target: bytes, body: bytes, *headers: bytes, length: int | None = None) -> bytes:
    n = len(body) if length is None else length
    return (
        _head(b"POST", target, b"Content-Type: application/json", *headers, b"Content-Length: %d" % n) + body
    )


def _send_body(session_id: str, chat_id: str, text: bytes) -> bytes:
    """A `POST /api/chat` body whose text is `text` (raw bytes, so it may be invalid UTF-8)."""
    return (
        b'{"sessionId":"%s","chatId":"%s","messages":[{"id":"soak-1","role":"user",'
        b'"parts":[{"type":"text","text":"%s"}]}]}' % (session_id.encode(), chat_id.encode(), text)
    )


def nested(depth: int) -> bytes:
    return b'{"title":' + b"[" * depth + b"]" * depth + b"}"
