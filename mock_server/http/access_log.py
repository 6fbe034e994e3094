"""The access log: a line per answered request, in uvicorn's format, written in batches.

uvicorn's own access log goes through `logging` on the event loop: a record, its formatter and a
flushed write for every request, which cost the mock more than a third of its throughput. Here a
line is one f-string kept in a buffer; the buffer is written a moment later (`FLUSH_AFTER`), or at
once past `FLUSH_BYTES`, in writes of whole lines no longer than a pipe writes atomically, so the
lines of several workers sharing one stdout never interleave mid-line. What is buffered is written
at shutdown too.

    INFO:     127.0.0.1:50312 - "POST /api/chat/3f2b.../stop HTTP/1.1" 200 OK
"""

from __future__ import annotations

import asyncio
import atexit
import http
import os
import sys
from typing import IO
from urllib.parse import quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

FLUSH_AFTER = 0.05
"""Seconds a line may wait in the buffer before it is written."""
FLUSH_BYTES = 64 * 1024
"""Buffered bytes that are written at once, without waiting."""
ATOMIC_WRITE = 4096
"""POSIX's PIPE_BUF: a write no larger reaches a pipe whole, never mixed with another writer's."""

_PHRASES = {status.value: status.phrase for status in http.HTTPStatus}


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "-"


def _target(scope: Scope) -> str:
    # As uvicorn writes it: the path percent-encoded (no control character reaches the log), then
    # the query as received.
    path = quote(scope.get("root_path", "") + scope["path"])
    query = scope.get("query_string", b"")
    return f"{path}?{query.decode('ascii', 'replace')}" if query else path


def line_of(scope: Scope, status: int) -> str:
    """The access log line of a request in `scope` answered with `status`, as uvicorn writes it."""
    phrase = _PHRASES.get(status, "")
    return (
        f'INFO:     {_client(scope)} - "{scope["method"]} {_target(scope)} '
        f'HTTP/{scope.get("http_version", "1.1")}" {status} {phrase}\n'
    )


class Lines:
    """Lines waiting to be written to `stream`, written in atomic batches soon after they come."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream
        self._waiting: list[str] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None
        atexit.register(self.flush)

    @property
    def stream(self) -> IO[str]:
        return self._stream or sys.stdout  # the stdout of the moment, as `print` uses (tests swap it)

    def add(self, line: str) -> None:
        self._waiting.append(line)
        self._size += len(line)
        if self._size >= FLUSH_BYTES:
            self.flush()
        elif self._timer is None:
            try:
                self._timer = asyncio.get_running_loop().call_later(FLUSH_AFTER, self.flush)
            except RuntimeError:  # no loop: nothing would write it later
                self.flush()

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._waiting:
            return
        waiting, self._waiting, self._size = self._waiting, [], 0
        stream = self.stream
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):  # not a file (a test's StringIO)
            stream.write("".join(waiting))
            stream.flush()
            return
        stream.flush()  # what `print` left in the stream's own buffer goes first
        for batch in _batches(waiting):
            _write_all(fd, batch)


def _batches(lines: list[str]) -> list[bytes]:
    """`lines` encoded, joined into writes of at most `ATOMIC_WRITE` bytes that end on a line."""
    batches: list[bytes] = []
    current = bytearray()
    for line in lines:
        data = line.encode("utf-8", "replace")
        if current and len(current) + len(data) > ATOMIC_WRITE:
            batches.append(bytes(current))
            current.clear()
        current += data
    if current:
        batches.append(bytes(current))
    return batches


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            continue
        except OSError:  # stdout closed or gone: the log is lost, the server goes on
            return
        view = view[written:]


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
