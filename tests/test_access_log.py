"""The access log: uvicorn's line for every answered request, on stdout, whole, written soon and at exit."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import signal
import threading

import httpx
from uvicorn.logging import AccessFormatter

from mock_server.http import access_log
from mock_server.http.access_log import ATOMIC_WRITE, Lines, line_of
from tests.mock_process import mock_process

STOP = "/api/chat/11111111-1111-4111-8111-111111111111/stop"


def _scope(path: str = STOP, query: bytes = b"") -> dict[str, object]:
    return {
        "type": "http",
        "client": ("127.0.0.1", 50312),
        "method": "POST",
        "path": path,
        "root_path": "",
        "query_string": query,
        "http_version": "1.1",
    }


def _uvicorns_line(path: str, query: bytes, status: int) -> str:
    """What uvicorn's own access log writes for the same request (no colours)."""
    target = path + (f"?{query.decode()}" if query else "")
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:50312", "POST", target, "1.1", status), None,
    )  # fmt: skip
    formatter = AccessFormatter('%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s')
    formatter.use_colors = False
    return formatter.format(record) + "\n"


def test_a_line_is_the_one_uvicorn_writes():
    for path, query, status in ((STOP, b"", 200), ("/api/chats", b"a=1&b=2", 404), (STOP, b"", 599)):
        assert line_of(_scope(path, query), status) == _uvicorns_line(path, query, status)


def test_no_control_character_of_a_path_reaches_the_log():
    line = line_of(_scope("/api/chat/\n\x1b[31mforged/stop"), 405)
    assert line.count("\n") == 1 and "\x1b" not in line
    assert "/api/chat/%0A%1B%5B31mforged/stop" in line


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
    lines = [line_of(_scope("/api/chat/" + "x" * (i % 300) + "/stop"), 200) for i in range(500)]
    batches = access_log._batches(lines)
    assert all(len(batch) <= ATOMIC_WRITE and batch.endswith(b"\n") for batch in batches)
    assert b"".join(batches).decode() == "".join(lines)


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
