"""The access log: a line per answered request, in uvicorn's format, written in batches.

uvicorn's own access log goes through `logging` on the event loop: a record, its formatter and a
flushed write for every request, which cost the mock more than a third of its throughput. Here a
line is one f-string kept in a buffer; the buffer is written a moment later (`FLUSH_AFTER`), or at
once past `FLUSH_BYTES`, in writes of whole lines no longer than a pipe writes atomically, so the
lines of several workers sharing one stdout never interleave mid-line. What is buffered is written
at exit too; a process killed outright (SIGKILL, the supervisor's kill past `--shutdown-timeout`)
loses at most the last `FLUSH_AFTER` seconds of lines.

    INFO:     127.0.0.1:50312 - "POST /api/chat/3f2b.../stop HTTP/1.1" 200 OK
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import http
import os
import sys
import weakref
from typing import IO
from urllib.parse import quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

FLUSH_AFTER = 0.02
"""Seconds a line may wait in the buffer before it is written (what a SIGKILL can lose)."""
FLUSH_BYTES = 64 * 1024
"""Buffered bytes that are written at once, without waiting."""
MAX_WAITING = 1024 * 1024
"""Bytes kept while stdout takes nothing (a full non-blocking pipe): lines past it are dropped,
and counted in a line of their own once stdout takes them again."""
ATOMIC_WRITE = 4096
"""POSIX's PIPE_BUF: a write no larger reaches a pipe whole, never mixed with another writer's."""

_PHRASES = {status.value: status.phrase for status in http.HTTPStatus}


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "-"


def _target(scope: Scope) -> str:
    # As uvicorn writes it (`get_path_with_query_string`): the target as received, which the parser
    # has kept free of spaces and control characters, with `"` escaped so the quoted field stays whole.
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else quote(scope["path"])
    query = scope.get("query_string", b"")
    target = f"{path}?{query.decode('ascii', 'replace')}" if query else path
    return target.replace('"', "%22")


def line_of(scope: Scope, status: int) -> str:
    """The access log line of a request in `scope` answered with `status`, as uvicorn writes it."""
    phrase = _PHRASES.get(status, "")
    return (
        f'INFO:     {_client(scope)} - "{scope["method"]} {_target(scope)} '
        f'HTTP/{scope.get("http_version", "1.1")}" {status} {phrase}\n'
    )


_EVERY: weakref.WeakSet[Lines] = weakref.WeakSet()


def flush_all() -> None:
    """Write every line still waiting, in every log (at exit, however the process exits)."""
    for lines in list(_EVERY):
        lines.flush()


atexit.register(flush_all)


class Lines:
    """Lines waiting to be written to `stream`, written in atomic batches soon after they come.

    A stream that takes nothing now (a full pipe set non-blocking by whoever shares it) never
    stalls the event loop: what it did not take waits for the next flush, up to `MAX_WAITING`.
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream
        self._waiting: list[bytes] = []
        self._size = 0
        self._dropped = 0
        self._blocked = False
        """The stream took less than it was given: only the timer tries it again."""
        self._timer: asyncio.TimerHandle | None = None
        _EVERY.add(self)

    @property
    def stream(self) -> IO[str]:
        return self._stream or sys.stdout  # the stdout of the moment, as `print` uses (tests swap it)

    def add(self, line: str) -> None:
        data = line.encode("utf-8", "replace")
        if self._size + len(data) > MAX_WAITING:
            self._dropped += 1
            return
        self._waiting.append(data)
        self._size += len(data)
        if (self._size >= FLUSH_BYTES and not self._blocked) or not self._schedule():
            self.flush()

    def _schedule(self) -> bool:
        """Have what waits written a moment from now; False when no event loop runs to do it."""
        if self._timer is None and self._waiting:
            try:
                self._timer = asyncio.get_running_loop().call_later(FLUSH_AFTER, self.flush)
            except RuntimeError:
                return False
        return True

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._dropped and self._size + 100 <= MAX_WAITING:
            note = f"WARNING:  {self._dropped} access log lines dropped: stdout took nothing\n"
            self._waiting.append(note.encode())
            self._size += len(note)
            self._dropped = 0
        if not self._waiting:
            return
        stream = self.stream
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):  # not a file (a test's StringIO)
            stream.write(b"".join(self._waiting).decode("utf-8", "replace"))
            stream.flush()
            self._waiting, self._size = [], 0
            return
        # What `print` left in the stream's own buffer goes first; a full (non-blocking) or closed
        # stream keeps it, as this keeps its own lines.
        with contextlib.suppress(OSError):
            stream.flush()
        written = _write_batches(fd, self._waiting)
        self._waiting = _unwritten(self._waiting, written)
        self._size = sum(len(data) for data in self._waiting)
        self._blocked = bool(self._waiting)
        self._schedule()  # the rest, if any, at the next moment (at exit, what is left is lost)


def _write_batches(fd: int, lines: list[bytes]) -> int:
    """Write `lines` in writes of whole lines of at most `ATOMIC_WRITE` bytes; the bytes written,
    up to the first write the stream did not take whole."""
    written = 0
    for batch in _batches(lines):
        try:
            done = os.write(fd, batch)
        except BlockingIOError:
            return written
        except OSError:  # stdout closed or gone: the log is lost, the server goes on
            return written + sum(len(data) for data in lines)
        written += done
        if done < len(batch):
            return written
    return written


def _unwritten(lines: list[bytes], written: int) -> list[bytes]:
    """What of `lines` is left once their first `written` bytes went out."""
    rest: list[bytes] = []
    for data in lines:
        if written >= len(data):
            written -= len(data)
            continue
        rest.append(data[written:])
        written = 0
    return rest


def _batches(lines: list[bytes]) -> list[bytes]:
    """`lines` joined into writes of at most `ATOMIC_WRITE` bytes that end on a line."""
    batches: list[bytes] = []
    current = bytearray()
    for data in lines:
        if current and len(current) + len(data) > ATOMIC_WRITE:
            batches.append(bytes(current))
            current.clear()
        current += data
    if current:
        batches.append(bytes(current))
    return batches


class AccessLog:
    """Writes an access log line for every HTTP request once its answer starts."""

    def __init__(self, app: ASGIApp, lines: Lines | None = None) -> None:
        self.app = app
        self.lines = lines or Lines()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def logging_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.lines.add(line_of(scope, message["status"]))
            await send(message)

        await self.app(scope, receive, logging_send)


def access_logged(app: ASGIApp, log_level: str) -> ASGIApp:
    """`app` with its access log, at the levels that show it (info and debug), as uvicorn's."""
    return AccessLog(app) if log_level in ("info", "debug") else app
