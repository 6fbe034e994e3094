"""What the bad-input soak (`tests/test_soak.py`) is made of: the real server as a second process,
raw HTTP/1.1 exchanges over asyncio streams, the raw cases, Schemathesis's negative data, and the
tally of what was sent and what came back."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from contract_judge.bodies import error_body_problem
from loopback import Served, status_kb, stop_process, wait_until

KEY_A = "demo-key-a"
KEY_B = "demo-key-b"
SEED_SESSION_A = "aaaaaaaa-0000-4000-8000-000000000001"
SEED_SESSION_B = "bbbbbbbb-0000-4000-8000-000000000001"
IDLE_A = "11111111-1111-4111-8111-111111111111"
GENERATING_A = "22222222-2222-4222-8222-222222222222"
CHAT_B = "33333333-3333-4333-8333-333333333333"
SEEDED_RUNNING = 3
"""Chats of the demo seed that generate from the start, until stopped (two of them for ever)."""

DELIBERATE: frozenset[int] = frozenset()
"""5xx the server answers by design: none (every refusal of bad input is a 4xx)."""

READ_TIMEOUT = 4.0
"""The longest a raw exchange waits for an answer the server owes; longer is a hang."""


# The server


@dataclass
class Server(Served):
    stderr_path: Path

    @property
    def base_url(self) -> str:
        return self.url

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def rss_kib(self) -> int:
        """The server process's resident memory (0 once it is gone)."""
        return status_kb(self.process.pid, "VmRSS") or 0


def _command() -> list[str]:
    script = Path(sys.executable).with_name("recoup-mock")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mock_server.cli"]


@contextlib.contextmanager
def running_server(directory: Path, name: str, *flags: str) -> Iterator[Server]:
    """`recoup-mock serve --host 127.0.0.1 --port 0 --quiet FLAGS` with the demo seed, as a second
    process, its stdout and stderr in files under `directory`; stopped (SIGTERM) when the block ends."""
    stdout_path = directory / f"{name}.stdout"
    stderr_path = directory / f"{name}.stderr"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_MOCK_")}
    env["PYTHONUNBUFFERED"] = "1"
    argv = [*_command(), "serve", "--host", "127.0.0.1", "--port", "0", "--quiet", *flags]
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
    try:
        banner = re.compile(r"Recoup mock on http://127\.0\.0\.1:(\d+)")
        wait_until(
            lambda: banner.search(stdout_path.read_text()) is not None,
            process,
            within=30,
            what="recoup-mock serve",
            output=lambda: stderr_path.read_text(errors="replace"),
        )
        found = banner.search(stdout_path.read_text())
        assert found is not None
        yield Server(process, int(found.group(1)), stderr_path)
    finally:
        stop_process(process)


# What the server stores, as GET /__mock/state shows it


@dataclass(frozen=True)
class Stored:
    sessions: int
    chats: int
    messages: int
    generating: int
    chats_with_a_run: int
    """Chats whose `generation` is shown (the run their activeStreamId names)."""

    def __str__(self) -> str:
        return (
            f"sessions={self.sessions} chats={self.chats} messages={self.messages} "
            f"generating={self.generating} chats-with-a-run={self.chats_with_a_run}"
        )


def stored(state: dict[str, Any]) -> Stored:
    sessions = [s for a in state["accounts"] for s in a["sessions"]]
    chats = [c for s in sessions for c in s["chats"]]
    return Stored(
        sessions=len(sessions),
        chats=len(chats),
        messages=sum(c["messageCount"] for c in chats),
        generating=len(state["generating"]),
        chats_with_a_run=sum(1 for c in chats if c["generation"] is not None),
    )


def chats_in(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for a in state["accounts"] for s in a["sessions"] for c in s["chats"]}


async def get_state(http: httpx.AsyncClient) -> dict[str, Any]:
    """`GET /__mock/state`, every page of it merged into one."""
    merged: dict[str, Any] | None = None
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 10000, **({"cursor": cursor} if cursor else {})}
        response = await http.get("/__mock/state", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        if merged is None:
            merged = page
        else:
            for account, more in zip(merged["accounts"], page["accounts"], strict=True):
                account["sessions"] += more["sessions"]
        cursor = page.get("nextCursor")
        if not cursor:
            return merged


# The tally


@dataclass
class Tally:
    """Every request sent, by kind; every status seen; and what is wrong."""

    sent: collections.Counter[str] = field(default_factory=collections.Counter)
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    server_errors: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    """Hangs, dropped connections, wrong statuses where one is required: each fails the soak."""
    deliberate: list[str] = field(default_factory=list)
    """The 5xx the server answers by design (DELIBERATE), with the contract's body."""
    findings: list[str] = field(default_factory=list)
    """Worth a look, but no failure: a 4xx that is not the contract's body, a status not expected."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(
        self, kind: str, status: int | None, request: str, body: bytes = b"", content_type: str = ""
    ) -> None:
        with self.lock:
            self.statuses[f"{kind} {status if status is not None else 'no answer'}"] += 1
            if status in DELIBERATE and contract_error(body, content_type, status):
                self.deliberate.append(f"[{kind}] {status} {body[:120]!r}\n    request: {request}")
            elif status is not None and status >= 500:
                self.server_errors.append(f"[{kind}] {status} {body[:300]!r}\n    request: {request}")
            elif (
                status is not None
                and status >= 400
                and body
                and not contract_error(body, content_type, status)
            ):
                self.findings.append(
                    f"[{kind}] {status} is not the contract's error body: {content_type!r} {body[:160]!r}"
                    f"\n    request: {request}"
                )

    def count(self, kind: str, n: int = 1) -> None:
        with self.lock:
            self.sent[kind] += n

    def fail(self, text: str) -> None:
        with self.lock:
            self.failures.append(text)

    def note(self, text: str) -> None:
        with self.lock:
            self.findings.append(text)

    def report(self) -> str:
        lines = ["requests sent, by kind:"]
        lines += [f"  {n:6d}  {kind}" for kind, n in sorted(self.sent.items())]
        lines.append(f"  {sum(self.sent.values()):6d}  in all")
        lines.append("statuses seen (kind status: count):")
        lines += [f"  {n:6d}  {key}" for key, n in sorted(self.statuses.items())]
        lines.append(f"5xx: {len(self.server_errors)}")
        lines += [f"  {e}" for e in self.server_errors]
        lines.append(f"5xx by design: {len(self.deliberate)}")
        lines += [f"  {e}" for e in self.deliberate]
        lines.append(f"failures: {len(self.failures)}")
        lines += [f"  {f}" for f in self.failures]
        lines.append(f"findings: {len(self.findings)}")
        lines += [f"  {f}" for f in self.findings]
        return "\n".join(lines)


def contract_error(body: bytes, content_type: str, status: int) -> bool:
    """The contract's error body, as the suite judges it."""
    return error_body_problem(status, content_type, body) is None


# Raw HTTP/1.1


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

    async def send() -> None:
        for step in steps:
            if isinstance(step, bytes):
                writer.write(step)
                await writer.drain()
            elif isinstance(step, Pause):
                await asyncio.sleep(step.seconds)
            elif step is HalfClose:
                writer.write_eof()
            elif step is Close:
                result.left = True
                writer.close()
            elif step is Abort:
                result.left = True
                writer.transport.abort()

    sending = asyncio.create_task(send())
    try:
        if any(step in (Close, Abort) for step in steps):
            with contextlib.suppress(ConnectionError, OSError, TimeoutError):
                await asyncio.wait_for(sending, timeout)
            return result
        final = 0
        while final < answers:
            try:
                response = await _read_response(reader, timeout, head_only)
            except TimeoutError:
                result.timed_out = True
                return result
            except asyncio.IncompleteReadError as exc:
                result.closed = True
                if exc.partial:
                    result.error = f"an answer cut short: {exc.partial[:120]!r}"
                return result
            except (ConnectionError, OSError):
                result.closed = True
                return result
            except (ValueError, IndexError, asyncio.LimitOverrunError) as exc:
                result.error = f"an answer that is not HTTP: {exc}"
                return result
            result.responses.append(response)
            if response.status >= 200:
                final += 1
        # Everything is sent (a 10 MiB body whole) unless the server closed on it.
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            await asyncio.wait_for(asyncio.shield(sending), timeout)
        if result.responses[-1].headers.get("connection", "").lower() == "close":
            try:
                result.closed = await asyncio.wait_for(reader.read(), 1.0) == b""
            except (ConnectionError, OSError):
                result.closed = True
            except TimeoutError:
                result.error = "Connection: close, yet the connection stayed open"
        return result
    finally:
        if sending.done() and not sending.cancelled() and sending.exception() is not None:
            result.error = result.error or f"sending: {type(sending.exception()).__name__}"
        sending.cancel()
        with contextlib.suppress(BaseException):
            await sending
        writer.transport.abort()


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


def raw_cases(session_id: str, chat_id: str) -> list[RawCase]:
    """The raw-socket cases. Every body that could change a chat is aimed at `chat_id` (an idle
    chat the soak snapshotted, in `session_id`), so one a server wrongly accepts shows as a change."""
    s4 = frozenset({400})
    c4 = frozenset(range(400, 500))
    ok = frozenset({200})
    idle = chat_id.encode()
    chat_path = f"/api/sessions/{session_id}/chats/{chat_id}".encode()
    stop = b"/api/chat/" + idle + b"/stop"
    stream = b"/api/chat/" + idle + b"/stream"
    digits = b"1" * 5000
    big = 10 * 1024 * 1024
    cases = [
        # Invalid UTF-8 and odd bytes
        RawCase("invalid UTF-8 in the path", [_head(b"GET", b"/api/sessions/\xff\xfe/chats")], c4),
        RawCase("invalid UTF-8 in the path, percent-encoded", [_head(b"POST", b"/api/chat/%ff%fe/stop")], s4),
        RawCase("invalid UTF-8 in the query", [_head(b"GET", stream + b"?startIndex=\xff")], s4),
        RawCase(
            "invalid UTF-8 in the query, percent-encoded", [_head(b"GET", stream + b"?startIndex=%ff%fe")], s4
        ),
        RawCase("invalid UTF-8 in x-api-key", [_head(b"POST", stop, b"x-api-key: \xff\xfe", key=False)], c4),
        RawCase(
            "invalid UTF-8 in Authorization",
            [_head(b"POST", stop, b"Authorization: Bearer \xc3\x28", key=False)],
            c4,
        ),
        RawCase("invalid UTF-8 in another header", [_head(b"GET", chat_path, b"X-Note: \xc3\x28\xff")]),
        RawCase(
            "invalid UTF-8 in a message's text",
            [_post(b"/api/chat", _send_body(session_id, chat_id, b"\xff\xfe\xc3\x28"))],
            s4,
            required=True,
        ),
        RawCase("invalid UTF-8 in a session title", [_post(b"/api/sessions", b'{"title":"\xff\xfe"}')], s4),
        RawCase(
            "a UTF-16 body announced as JSON",
            [_post(b"/api/chat", _send_body(session_id, chat_id, b"hi").decode().encode("utf-16"))],
            s4,
        ),
        RawCase(
            "a NUL byte in a JSON string",
            [_post(b"/api/chat", _send_body(session_id, chat_id, b"a\x00b"))],
            s4,
        ),
        # Size and depth
        RawCase(
            "a 10 MiB body announced and sent",
            [_post(b"/api/sessions", b'{"title":"' + b"x" * (big - 12) + b'"}')],
            frozenset({413}),
            required=True,
        ),
        RawCase(
            "a 10 MiB body announced, 10 bytes sent",
            [_post(b"/api/sessions", b'{"title":"', length=big)],
            frozenset({413}),
            required=True,
        ),
        RawCase("JSON nested 10,000 deep", [_post(b"/api/sessions", nested(10_000))], s4, required=True),
        RawCase("JSON nested 100,000 deep", [_post(b"/api/sessions", nested(100_000))], s4, required=True),
        RawCase(
            "JSON nested 10,000 deep in a message",
            [
                _post(
                    b"/api/chat",
                    _send_body(session_id, chat_id, b'", "x": ' + b"[" * 10_000 + b"]" * 10_000 + b', "y":"'),
                )
            ],
            s4,
            required=True,
        ),
        RawCase(
            "an integer of 5,000 digits in a JSON body",
            [_post(b"/api/sessions", b'{"title":' + digits + b"}")],
            s4,
        ),
        RawCase(
            "an integer of 5,000 digits in a message",
            [_post(b"/api/chat", _send_body(session_id, chat_id, b'", "n": ' + digits + b', "y":"'))],
            s4,
        ),
        RawCase("a float beyond double range", [_post(b"/api/sessions", b'{"title":1e999999}')], s4),
        RawCase("NaN in a JSON body", [_post(b"/api/sessions", b'{"title":NaN}')], s4),
        RawCase("JSON with trailing garbage", [_post(b"/api/sessions", b'{"title":"x"}}}}')], s4),
        RawCase("an empty JSON body", [_post(b"/api/chat", b"")], c4),
        RawCase("a JSON body that is a bare string", [_post(b"/api/chat", b'"hello"')], s4),
        RawCase(
            "a body of text/plain",
            [_head(b"POST", b"/api/chat", b"Content-Type: text/plain", b"Content-Length: 2") + b"{}"],
            c4,
        ),
        RawCase(
            "a multipart body with no boundary",
            [
                _head(b"POST", b"/api/chat", b"Content-Type: multipart/form-data", b"Content-Length: 2")
                + b"{}"
            ],
            c4,
        ),
        # Methods
        RawCase("method BREW", [_head(b"BREW", b"/api/sessions")], frozenset({400, 405})),
        RawCase("method PROPFIND", [_head(b"PROPFIND", b"/api/sessions")], frozenset({405})),
        RawCase("method post in lower case", [_head(b"post", stop)], frozenset({400, 405})),
        RawCase("a 1 KiB method name", [_head(b"A" * 1024, b"/api/sessions")], frozenset({400})),
        RawCase("method CONNECT", [_head(b"CONNECT", b"127.0.0.1:443")], frozenset({400, 404, 405})),
        RawCase("method TRACE", [_head(b"TRACE", b"/api/sessions")], frozenset({405})),
        RawCase("OPTIONS *", [_head(b"OPTIONS", b"*")], frozenset({200, 204, 400, 404, 405})),
        RawCase("method PUT on a chat", [_head(b"PUT", chat_path)], frozenset({405})),
        RawCase("HEAD of a chat", [_head(b"HEAD", chat_path)]),
        # Headers
        RawCase(
            "a header of 64 KiB",
            [_head(b"GET", chat_path, b"X-Big: " + b"a" * 65536)],
            frozenset({400, 431}),
            required=True,
        ),
        RawCase(
            "200 headers",
            [_head(b"GET", chat_path, *(b"X-H%d: v%d" % (n, n) for n in range(200)))],
            frozenset({200, 400, 431}),
        ),
        RawCase(
            "20,000 tiny headers",
            [_head(b"GET", chat_path, *(b"a:" for _ in range(20_000)))],
            frozenset({400, 431}),
        ),
        RawCase(
            "a NUL byte in a header value",
            [_head(b"POST", stop, b"x-api-key: demo\x00key", key=False)],
            frozenset({400}),
        ),
        RawCase(
            "a NUL byte in another header", [_head(b"GET", chat_path, b"X-Note: a\x00b")], frozenset({400})
        ),
        RawCase(
            "a header line without a colon", [_head(b"GET", chat_path, b"NoColonHere")], frozenset({400})
        ),
        RawCase(
            "an obs-fold continuation line",
            [_head(b"GET", chat_path, b"X-A: one", b" two")],
            frozenset({200, 400}),
        ),
        RawCase(
            "a space before a header's colon", [_head(b"GET", chat_path, b"X-A : one")], frozenset({400})
        ),
        RawCase(
            "bare LF line endings", [_head(b"GET", chat_path).replace(b"\r\n", b"\n")], frozenset({200, 400})
        ),
        RawCase(
            "no Host header",
            [_head(b"GET", chat_path).replace(b"Host: 127.0.0.1\r\n", b"")],
            frozenset({200, 400}),
        ),
        RawCase(
            "an absolute-form target",
            [_head(b"GET", b"http://evil.example" + chat_path)],
            frozenset({200, 400, 404}),
        ),
        RawCase(
            "both x-api-key and Authorization",
            [_head(b"POST", stop, b"Authorization: Bearer demo-key-a")],
            frozenset({401}),
        ),
        RawCase(
            "an x-api-key of 10 KiB",
            [_head(b"POST", stop, b"x-api-key: " + b"k" * 10240, key=False)],
            frozenset({401}),
        ),
        RawCase(
            "Upgrade: websocket on an API path",
            [_head(b"GET", chat_path, b"Connection: Upgrade", b"Upgrade: websocket")],
        ),
        RawCase(
            "Upgrade: h2c",
            [
                _head(
                    b"GET",
                    chat_path,
                    b"Connection: Upgrade, HTTP2-Settings",
                    b"Upgrade: h2c",
                    b"HTTP2-Settings: AAMAAABkAAQAAP__",
                )
            ],
        ),
        RawCase(
            "Expect: 100-continue, then a bad body",
            [_post(b"/api/chat", b"{]", b"Expect: 100-continue")],
            frozenset({100, 400}),
        ),
        # Framing
        RawCase(
            "Content-Length longer than the body, then the client ends its side",
            [_post(b"/api/chat", b'{"sessionId":', length=100), HalfClose],
            c4,
            answer_due=False,
        ),
        RawCase(
            "Content-Length longer than the body, then the client closes",
            [_post(b"/api/chat", b'{"sessionId":', length=100), Close],
            answer_due=False,
        ),
        RawCase(
            "Content-Length longer than the body, then the body stalls",
            [_post(b"/api/chat", b'{"sessionId":', length=100)],
            frozenset({408}),
        ),
        RawCase(
            "Content-Length shorter than the body, the rest junk",
            [_post(b"/api/chat", _send_body(session_id, chat_id, b"cut here"), length=20)],
            s4,
        ),
        RawCase(
            "Content-Length shorter than the body, the rest a pipelined request",
            [_post(b"/api/chat", b"{]") + _head(b"GET", chat_path)],
            s4,
            answers=2,
        ),
        RawCase(
            "a truncated body, then the client resets",
            [
                _post(b"/api/chat", _send_body(session_id, chat_id, b"half")[:40], length=500),
                Pause(0.05),
                Abort,
            ],
            answer_due=False,
        ),
        RawCase(
            "Transfer-Encoding: gzip",
            [
                _head(
                    b"POST", b"/api/sessions", b"Content-Type: application/json", b"Transfer-Encoding: gzip"
                )
                + b"{}"
            ],
            frozenset({400}),
            required=True,
        ),
        RawCase(
            "chunked with a bad chunk size",
            [
                _head(
                    b"POST",
                    b"/api/sessions",
                    b"Content-Type: application/json",
                    b"Transfer-Encoding: chunked",
                )
                + b"zz\r\n{}\r\n0\r\n\r\n"
            ],
            s4,
            required=True,
        ),
        RawCase(
            "chunked with a chunk size of 2^64",
            [
                _head(
                    b"POST",
                    b"/api/sessions",
                    b"Content-Type: application/json",
                    b"Transfer-Encoding: chunked",
                )
                + b"10000000000000000\r\n{}\r\n"
            ],
            frozenset({400, 413}),
        ),
        RawCase(
            "chunked and Content-Length both",
            [
                _head(
                    b"POST",
                    b"/api/chat",
                    b"Content-Type: application/json",
                    b"Transfer-Encoding: chunked",
                    b"Content-Length: 5",
                )
                + b"2\r\n{}\r\n0\r\n\r\n"
            ],
            s4,
            required=True,
        ),
        RawCase(
            "chunked, truncated, then the client closes",
            [
                _head(b"POST", b"/api/chat", b"Content-Type: application/json", b"Transfer-Encoding: chunked")
                + b'40\r\n{"sessionId":',
                Close,
            ],
            answer_due=False,
        ),
        RawCase(
            "chunked, truncated, then the client ends its side",
            [
                _head(b"POST", b"/api/chat", b"Content-Type: application/json", b"Transfer-Encoding: chunked")
                + b'40\r\n{"sessionId":',
                HalfClose,
            ],
            c4,
            answer_due=False,
        ),
        RawCase(
            "a whole message sent chunked with a bad trailer",
            [
                _head(b"POST", b"/api/chat", b"Content-Type: application/json", b"Transfer-Encoding: chunked")
                + b"2\r\n{]\r\n0\r\nBad Trailer\r\n\r\n"
            ],
            s4,
        ),
        RawCase(
            "two equal Content-Lengths", [_post(b"/api/chat", b"{]", b"Content-Length: 2")], s4, required=True
        ),
        RawCase(
            "two different Content-Lengths",
            [_post(b"/api/chat", b"{]", b"Content-Length: 3")],
            s4,
            required=True,
        ),
        RawCase("Content-Length: -1", [_head(b"POST", b"/api/sessions", b"Content-Length: -1") + b"{}"], s4),
        RawCase(
            "Content-Length: abc", [_head(b"POST", b"/api/sessions", b"Content-Length: abc") + b"{}"], s4
        ),
        RawCase(
            "Content-Length of 30 digits",
            [_head(b"POST", b"/api/sessions", b"Content-Length: " + b"9" * 30) + b"{}"],
            frozenset({400, 413}),
        ),
        # Request lines and versions
        RawCase(
            "a request line of 100 KiB",
            [_head(b"GET", b"/api/sessions/" + b"a" * 102400 + b"/chats")],
            frozenset({400, 414, 431}),
            required=True,
        ),
        RawCase("a request line that never ends", [b"GET /" + b"a" * 200_000], frozenset({400, 414, 431})),
        RawCase("HTTP/1.0", [_head(b"GET", chat_path, version=b"HTTP/1.0")], ok),
        RawCase(
            "HTTP/1.0 with a bad body", [_post(b"/api/chat", b"{]").replace(b"HTTP/1.1", b"HTTP/1.0", 1)], s4
        ),
        RawCase("HTTP/0.9", [b"GET " + chat_path + b"\r\n"], frozenset({400, 408})),
        RawCase(
            "HTTP/2.0 in the request line",
            [_head(b"GET", chat_path, version=b"HTTP/2.0")],
            frozenset({400}),
        ),
        RawCase(
            "HTTP/1.2 in the request line",
            [_head(b"GET", chat_path, version=b"HTTP/1.2")],
            frozenset({200, 400}),
        ),
        RawCase("the HTTP/2 preface", [b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"], frozenset({400})),
        RawCase(
            "a TLS ClientHello",
            [b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(32))],
            frozenset({400}),
        ),
        RawCase(
            "empty lines before the request", [b"\r\n\r\n" + _head(b"GET", chat_path)], frozenset({200, 400})
        ),
        RawCase("a control character in the target", [_head(b"GET", b"/api/\x7f/x")], frozenset({400})),
        # Paths and queries
        RawCase("a NUL as the chat id", [_head(b"POST", b"/api/chat/%00/stop")], frozenset({400, 404})),
        RawCase(
            "an encoded ../ as the chat id",
            [_head(b"POST", b"/api/chat/..%2F..%2Fetc/stop")],
            frozenset({400, 404}),
        ),
        RawCase(
            "a raw ../ in the path", [_head(b"POST", b"/api/chat/../../etc/stop")], frozenset({400, 404, 405})
        ),
        RawCase(
            "an encoded .. as the session id",
            [_head(b"GET", b"/api/sessions/%2e%2e/chats")],
            frozenset({400, 404}),
        ),
        RawCase("a broken percent escape", [_head(b"POST", b"/api/chat/%zz/stop")], frozenset({400, 404})),
        RawCase("doubled slashes", [_head(b"GET", b"//api//sessions")], frozenset({404, 405})),
        RawCase("startIndex=-1", [_head(b"GET", stream + b"?startIndex=-1")], s4),
        RawCase(
            "startIndex of 30 digits",
            [_head(b"GET", stream + b"?startIndex=" + b"9" * 30)],
            frozenset({204, 400}),
        ),
        RawCase(
            "startIndex of 5,000 digits",
            [_head(b"GET", stream + b"?startIndex=" + digits)],
            frozenset({204, 400}),
        ),
        RawCase("startIndex as a superscript digit", [_head(b"GET", stream + b"?startIndex=%C2%B2")], s4),
        RawCase(
            "startIndex twice", [_head(b"GET", stream + b"?startIndex=1&startIndex=x")], frozenset({204, 400})
        ),
        RawCase(
            "a query of 1,000 parameters",
            [_head(b"GET", stream + b"?" + b"&".join(b"p%d=1" % n for n in range(1000)))],
            frozenset({204, 400, 414, 431}),
        ),
        # Prefer and the admin API's queries: numbers Python's int() refuses
        RawCase("Prefer: delay of 5,000 digits", [_head(b"POST", stop, b"Prefer: delay=" + digits)], s4),
        RawCase("Prefer: delay as a superscript digit", [_head(b"POST", stop, b"Prefer: delay=\xb2")], s4),
        RawCase(
            "Prefer: code as superscript digits", [_head(b"POST", stop, b"Prefer: code=\xb2\xb2\xb2")], s4
        ),
        RawCase(
            "Prefer: 1,000 preferences",
            [_head(b"POST", stop, b"Prefer: " + b", ".join([b"code=200"] * 1000))],
            frozenset({200, 400}),
        ),
        RawCase("Prefer: an unclosed quote", [_head(b"POST", stop, b'Prefer: code="200')], s4),
        RawCase(
            "journal since= a superscript digit",
            [_head(b"GET", b"/__mock/journal?since=%C2%B2", key=False)],
            s4,
        ),
        RawCase(
            "journal since= 5,000 digits", [_head(b"GET", b"/__mock/journal?since=" + digits, key=False)], s4
        ),
        RawCase(
            "journal limit= 5,000 digits", [_head(b"GET", b"/__mock/journal?limit=" + digits, key=False)], s4
        ),
        RawCase(
            "state cursor= a superscript digit",
            [_head(b"GET", b"/__mock/state?cursor=%C2%B2", key=False)],
            s4,
        ),
        RawCase(
            "state cursor= 12 digits", [_head(b"GET", b"/__mock/state?cursor=999999999999", key=False)], ok
        ),
        RawCase("journal since= invalid UTF-8", [_head(b"GET", b"/__mock/journal?since=%ff", key=False)], s4),
    ]
    return cases


# Schemathesis's negative data


def _negative_beyond_headers(case: Any) -> bool:
    """Whether the case breaks the contract somewhere other than its headers."""
    components = getattr(case.meta, "components", None) if case.meta is not None else None
    if not components:
        return True  # nothing says where: keep it
    return any(
        str(getattr(location, "value", location)) != "header" and str(info.mode) == "negative"
        for location, info in components.items()
    )


def negative_soak(base_url: str, tally: Tally, *, examples: int, seed: int, stop: Callable[[], bool]) -> None:
    """Send Schemathesis's negative cases for every API operation, each twice: as generated, with
    `x-api-key: demo-key-a` added, and "keyed": its credential headers replaced by that key alone,
    so the rest of the case reaches the checks behind authentication. Runs in a thread."""
    import hypothesis
    import requests
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.config import SchemathesisConfig

    config = SchemathesisConfig.from_dict(
        {
            "generation": {
                "mode": "negative",
                "max-examples": examples,
                "deterministic": True,
                "database": "none",
            },
            "seed": seed,
        }
    )
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=config)
    session = requests.Session()
    settings = hypothesis.settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
        print_blob=False,
    )
    for result in schema.get_all_operations():
        operation = result.ok()
        kind = f"schemathesis {operation.method.upper()} {operation.path}"

        def call(case: Any, variant: str, *, kind: str = kind, **kwargs: Any) -> None:
            tally.count(f"{kind} ({variant})")
            try:
                response = case.call(base_url=base_url, session=session, timeout=READ_TIMEOUT + 6, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                curl = case.as_curl_command()
                tally.fail(f"[{kind} ({variant})] no answer: {type(exc).__name__}: {exc}\n    {curl}")
                return
            except Exception as exc:  # the client refused to send it (an illegal header, say)
                tally.answer(f"{kind} ({variant})", None, "")
                tally.note(f"[{kind} ({variant})] not sendable by requests: {type(exc).__name__}")
                return
            tally.answer(
                f"{kind} ({variant})",
                response.status_code,
                case.as_curl_command(),
                response.content,
                (response.headers.get("content-type") or [""])[0],
            )

        sent: list[Any] = []

        @settings
        @hypothesis.given(operation.as_strategy(GenerationMode.NEGATIVE))
        def send(case: Any) -> None:
            # Past the time bound, an operation not reached yet still gets its first case: on a
            # busy machine every operation is soaked, if less deeply. (`send` runs in this
            # iteration of the loop, so `sent` is this operation's.)
            if stop() and sent:  # noqa: B023
                return
            sent.append(case)  # noqa: B023
            call(case, "as generated", headers={"x-api-key": KEY_A})
            if not _negative_beyond_headers(case):
                # Keyed, a case bad in its headers alone is a good request (a delete, a rename of a
                # chat whose ids Schemathesis drew from earlier answers): not this soak's.
                return
            case.headers = {
                k: v
                for k, v in (case.headers or {}).items()
                if k.lower() not in ("authorization", "x-api-key")
            }
            case.headers["x-api-key"] = KEY_A
            call(case, "keyed")

        send()
