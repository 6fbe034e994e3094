"""The access log: uvicorn's line for every answered request, on stdout, whole, written soon and at exit."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import signal
import threading
import time
from typing import Any

import httpx
from uvicorn.logging import AccessFormatter
from uvicorn.protocols.utils import get_path_with_query_string

from mock_server.http import access_log
from mock_server.http.access_log import ATOMIC_WRITE, Lines, line_of
from tests.mock_process import mock_process

STOP = "/api/chat/11111111-1111-4111-8111-111111111111/stop"


def _scope(path: str = STOP, query: bytes = b"", raw: bytes | None = None) -> dict[str, Any]:
    return {
        "type": "http",
        "client": ("127.0.0.1", 50312),
        "method": "POST",
        "path": path,
        "raw_path": raw if raw is not None else path.encode(),
        "root_path": "",
        "query_string": query,
        "http_version": "1.1",
    }


def _uvicorns_line(scope: dict[str, Any], status: int) -> str:
    """What uvicorn's own access log writes for the same request (no colours)."""
    target = get_path_with_query_string(scope)  # type: ignore[arg-type]
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:50312", "POST", target, "1.1", status), None,
    )  # fmt: skip
    formatter = AccessFormatter('%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s')
    formatter.use_colors = False
    return formatter.format(record) + "\n"


def test_a_line_is_the_one_uvicorn_writes():
    scopes = [
        (_scope(), 200),
        (_scope("/api/chats", b"a=1&b=2"), 404),
        (_scope(), 599),
        (_scope("/api/../x:y", raw=b"/api/%2e%2e/x:y"), 404),
        (_scope("/openapi.json", b'a="x"'), 200),
    ]
    for scope, status in scopes:
        assert line_of(scope, status) == _uvicorns_line(scope, status)


def test_the_target_is_written_as_received_with_no_quote_to_break_the_field():
    line = line_of(_scope("/api/sessions/\nINFO: fake", b'q="x"', raw=b"/api/sessions/%0aINFO:%20fake"), 404)
    assert line.count("\n") == 1 and line.count('"') == 2
    assert '"POST /api/sessions/%0aINFO:%20fake?q=%22x%22 HTTP/1.1"' in line


def test_a_stdout_that_takes_nothing_never_stalls_the_loop_and_gets_the_lines_later():
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    stream = os.fdopen(write_end, "w")
    line = line_of(_scope(), 200)

    async def flood() -> tuple[float, int]:
        lines = Lines(stream)
        started = time.monotonic()
        for _ in range(40_000):  # far more than a pipe holds, and than the buffer keeps
            lines.add(line)
        lines.flush()
        took = time.monotonic() - started
        received = b""
        while True:  # the reader comes back: what was kept follows, and a word on what was not
            await asyncio.sleep(access_log.FLUSH_AFTER * 2)
            try:
                chunk = os.read(read_end, 1 << 20)
            except BlockingIOError:
                chunk = b""
            received += chunk
            if not chunk and not lines._waiting:
                break
        lines.flush()
        await asyncio.sleep(access_log.FLUSH_AFTER * 2)
        with contextlib.suppress(BlockingIOError):
            received += os.read(read_end, 1 << 20)
        return took, received.count(b"\n"), received

    os.set_blocking(read_end, False)
    try:
        took, count, received = asyncio.run(flood())
    finally:
        stream.close()
        os.close(read_end)
    assert took < 5, "adding lines to a full stdout returned at once"
    kept = access_log.MAX_WAITING // len(line.encode())
    in_the_pipe = 64 * 1024 // len(line.encode()) + 1  # Linux's default pipe holds 64 KiB
    assert kept // 2 < count <= kept + in_the_pipe + 1, "the lines kept are bounded"
    assert b"access log lines dropped: stdout took nothing" in received
    assert all(piece.startswith((b"INFO:", b"WARNING:")) for piece in received.splitlines())


def test_lines_wait_a_moment_then_are_written_together():
    written = io.StringIO()

    async def log_three() -> tuple[str, str]:
        lines = Lines(written)
        for _ in range(3):
            lines.add(line_of(_scope(), 200))
        before = written.getvalue()
        await asyncio.sleep(access_log.FLUSH_AFTER * 3)
        return before, written.getvalue()

    before, after = asyncio.run(log_three())
    assert before == ""
    assert after == line_of(_scope(), 200) * 3


def test_every_write_is_whole_lines_no_larger_than_a_pipe_takes_at_once(tmp_path):
    lines = [line_of(_scope("/api/chat/" + "x" * (i % 300) + "/stop"), 200).encode() for i in range(500)]
    batches = access_log._batches(lines)
    assert all(len(batch) <= ATOMIC_WRITE and batch.endswith(b"\n") for batch in batches)
    assert b"".join(batches) == b"".join(lines)


def test_a_served_mock_logs_each_request_on_stdout_and_the_last_one_at_exit():
    with mock_process() as served:
        for query in ("", "?n=1", "?n=2"):
            answer = httpx.post(f"{served.url}{STOP}{query}", headers={"x-api-key": "demo-key-a"})
            assert answer.status_code == 200
        served.process.send_signal(signal.SIGTERM)  # right away: the lines may still be buffered
        stdout, stderr = served.process.communicate(timeout=15)
    logged = [line for line in stdout.splitlines() if STOP in line]
    assert [line.split('"')[1] for line in logged] == [
        f"POST {STOP} HTTP/1.1",
        f"POST {STOP}?n=1 HTTP/1.1",
        f"POST {STOP}?n=2 HTTP/1.1",
    ]
    assert all(line.startswith("INFO:     127.0.0.1:") and line.endswith('" 200 OK') for line in logged)
    assert STOP not in stderr, "access lines go to stdout, as uvicorn's do"


def test_warning_level_and_quiet_write_no_access_log():
    for flags in (("--log-level", "warning"), ("--quiet",)):
        with mock_process(*flags) as served:
            httpx.post(f"{served.url}{STOP}", headers={"x-api-key": "demo-key-a"})
            served.process.send_signal(signal.SIGTERM)
            stdout, _ = served.process.communicate(timeout=15)
        assert STOP not in stdout.split("Try:", 1)[-1], flags


def test_two_workers_sharing_one_pipe_never_split_a_line(redis_url):
    with mock_process(
        "--workers", "2", "--store", redis_url, "--store-prefix", f"test-access-{os.getpid()}"
    ) as served:
        assert served.process.stdout is not None
        read: list[str] = []
        reader = threading.Thread(target=lambda: read.extend(served.process.stdout))  # type: ignore[arg-type]
        reader.start()
        with httpx.Client() as client:
            for _ in range(600):
                # A new connection each time, so both workers answer.
                client.post(f"{served.url}{STOP}", headers={"x-api-key": "demo-key-a", "connection": "close"})
        served.process.send_signal(signal.SIGTERM)
        served.process.wait(timeout=30)
        reader.join(timeout=10)
    logged = [line.rstrip("\n") for line in read if "POST /api/chat" in line]
    assert len(logged) == 600
    assert all(line.startswith("INFO:     127.0.0.1:") and line.endswith(" 200 OK") for line in logged)
