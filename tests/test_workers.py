"""`recoup-mock serve --workers N`: several processes on one port, sharing a Redis store, run by a
supervisor that relays the stop signals, replaces a worker that dies and gives up when one cannot
start. Each test runs the real command and talks to it over loopback.

Which worker answers a connection is the kernel's choice; to address one, the tests stop the others
(SIGSTOP), so that only it accepts from the shared socket, and let them go on afterwards (SIGCONT).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest

from loopback import Served, stop_process
from tests.redis_server import start_redis
from tests.test_server import assert_ended_by_shutdown, new_answer_stream

KEY = "demo-key-a"
WAIT = 30.0
"""Seconds a test waits for the workers to start, log or end before it fails."""
SERVING = r"Worker \[(\d+)\] is serving"
FAST = ("--first-token-delay", "0.05", "--tokens-per-second", "200")


def command(*flags: str) -> list[str]:
    return [sys.executable, "-m", "mock_server.cli", "serve", "--port", "0", *flags]


def environment() -> dict[str, str]:
    """This environment without RECOUP_MOCK_ variables (a developer's store or workers)."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith("RECOUP_MOCK_")}
    return {**clean, "PYTHONUNBUFFERED": "1"}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Lines:
    """The lines of a process's stream, read by a thread so that the process never blocks on it."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self.ended = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self.ended = True
            self._changed.notify_all()

    def text(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def wait_for(self, pattern: str, count: int = 1) -> list[re.Match[str]]:
        """The first `count` lines matching `pattern`, once they have been written."""
        deadline = time.monotonic() + WAIT
        with self._changed:
            while True:
                found = [m for m in map(re.compile(pattern).search, self.lines) if m]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                assert left > 0 and not self.ended, f"no {count} lines match {pattern!r}:\n{self.text()}"
                self._changed.wait(left)

    def join(self) -> None:
        self._thread.join(WAIT)


@dataclass
class Supervised(Served):
    log: Lines
    """Standard error: the parent's and the workers' logs."""

    def worker_pids(self, count: int) -> list[int]:
        """The first `count` workers the parent reported serving, once it has."""
        return [int(match.group(1)) for match in self.log.wait_for(SERVING, count)]


@contextlib.contextmanager
def supervised(*flags: str, workers: int = 2) -> Iterator[Supervised]:
    """`recoup-mock serve --port 0 --workers N FLAGS` in a session of its own, until the block ends."""
    process = subprocess.Popen(
        command("--workers", str(workers), *flags),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
        start_new_session=True,  # a Ctrl-C to its process group reaches no one else
    )
    assert process.stdout is not None and process.stderr is not None
    log = Lines(process.stderr)
    access_log: Lines | None = None
    try:
        banner = ""
        while "curl" not in banner:
            line = process.stdout.readline()
            assert line, f"the server ended before printing its banner:\n{log.text()}"
            banner += line
        assert f"{workers} worker processes sharing redis://" in banner, banner
        port = re.search(r"Recoup mock on http://127\.0\.0\.1:(\d+)", banner)
        assert port, banner
        access_log = Lines(process.stdout)
        yield Supervised(process, int(port.group(1)), log)
    finally:
        for match in re.finditer(SERVING, log.text()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(match.group(1)), signal.SIGCONT)  # a test that failed while one was stopped
        stop_process(process, group=True)
        log.join()
        if access_log is not None:
            access_log.join()


@contextlib.contextmanager
def only(pid: int, workers: Iterable[int]) -> Iterator[None]:
    """While the block runs, every worker but `pid` is stopped: only `pid` accepts connections."""
    others = [other for other in workers if other != pid]
    for other in others:
        os.kill(other, signal.SIGSTOP)
    try:
        yield
    finally:
        for other in others:
            os.kill(other, signal.SIGCONT)


def new_chat(url: str) -> str:
    response = httpx.post(f"{url}/api/sessions", json={}, headers={"x-api-key": KEY}, timeout=5)
    assert response.status_code in (200, 201), response.text
    chat_id: str = response.json()["chat"]["id"]
    return chat_id


def stop(url: str, chat_id: str) -> httpx.Response:
    """A stop on a connection of its own (so that whichever worker accepts it answers)."""
    return httpx.post(f"{url}/api/chat/{chat_id}/stop", headers={"x-api-key": KEY}, timeout=5)


@pytest.mark.parametrize(
    ("flags", "env", "named"),
    [(["--workers", "2"], {}, "--workers 2"), ([], {"RECOUP_MOCK_WORKERS": "3"}, "--workers 3")],
    ids=["flag", "environment"],
)
def test_workers_with_the_memory_store_are_refused_naming_store(
    flags: list[str], env: dict[str, str], named: str
):
    # The port is taken: a server that bound it before refusing would say it cannot listen.
    with socket.create_server(("127.0.0.1", 0)) as taken:
        argv = command(*flags, "--port", str(taken.getsockname()[1]))  # the last --port counts
        result = subprocess.run(
            argv, capture_output=True, text=True, env={**environment(), **env}, timeout=WAIT
        )
    assert result.returncode == 2
    assert result.stdout == "", "no banner: nothing was served"
    assert result.stderr.splitlines() == [
        f"recoup-mock: {named} needs a store the processes share: set --store redis://HOST:PORT/DB "
        "(or RECOUP_MOCK_STORE); the in-memory store is one process's own"
    ]


def test_two_workers_share_the_port_and_both_answer(redis_store_flags: tuple[str, ...]):
    with supervised(*redis_store_flags) as served:
        first, second = pids = served.worker_pids(2)
        assert first != second and served.process.pid not in pids
        with only(first, pids):
            chat_id = new_chat(served.url)
            assert stop(served.url, chat_id).json() == {"success": True, "stopped": False}
        with only(second, pids):
            # The chat the first worker created is in the store the second one reads.
            assert stop(served.url, chat_id).json() == {"success": True, "stopped": False}
            assert stop(served.url, "00000000-0000-4000-8000-000000000000").status_code == 404


@pytest.mark.parametrize(
    ("stop_signal", "exit_code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)], ids=["SIGTERM", "Ctrl-C"]
)
async def test_sigterm_stops_every_worker_and_the_parent_exits_0(
    redis_store_flags: tuple[str, ...], stop_signal: int, exit_code: int
):
    # A shutdown timeout with room for a loaded machine; a worker ends its answers in about 1 s.
    with supervised(*redis_store_flags, *FAST, "--tool-seconds", "60", "--shutdown-timeout", "5") as served:
        pids = served.worker_pids(2)
        streams = []
        for pid in pids:  # an answer streaming from each worker, its tool call running
            with only(pid, pids):
                streams.append(await new_answer_stream(served.port))
        signalled = time.monotonic()
        if stop_signal == signal.SIGINT:  # a terminal's Ctrl-C: the parent's whole process group
            os.killpg(served.process.pid, signal.SIGINT)
        else:  # a service manager's stop: the parent alone
            served.process.send_signal(signal.SIGTERM)
        await asyncio.gather(*(s.connection.stream_to_end(s.response) for s in streams))
        code = await asyncio.to_thread(served.process.wait, WAIT)
        took = time.monotonic() - signalled
        gone = [not alive(pid) for pid in pids]
    log = served.log.text()
    assert code == exit_code, log
    assert took < 5, f"the workers took {took:.2f} s to stop (shutdown timeout 5 s):\n{log}"
    assert gone == [True, True], "every worker has exited with the parent"
    for stream in streams:  # each worker ended its answer as a stop does: it was relayed the signal once
        assert_ended_by_shutdown(stream)
    assert log.count("Application shutdown complete") == 2, log
    assert "Traceback" not in log and "killing it" not in log


def test_a_worker_that_does_not_stop_in_time_is_killed(redis_store_flags: tuple[str, ...]):
    with supervised(*redis_store_flags, "--shutdown-timeout", "1") as served:
        frozen, other = served.worker_pids(2)
        os.kill(frozen, signal.SIGSTOP)  # the SIGTERM the parent relays stays pending
        signalled = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        code = served.process.wait(WAIT)
        took = time.monotonic() - signalled
        log = served.log.text()
        assert code == 0, log
        # Killed a tenth of a second before the timeout, so that the parent too has exited by then.
        assert 0.9 <= took < 1, f"killed just before the shutdown timeout, 1 s; took {took:.2f} s:\n{log}"
        assert not alive(frozen) and not alive(other)
    assert f"Worker [{frozen}] still running at the deadline: killing it" in log
    assert f"Worker [{other}] still running" not in log and log.count("Application shutdown complete") == 1


def test_a_killed_worker_is_replaced(redis_store_flags: tuple[str, ...]):
    with supervised(*redis_store_flags) as served:
        killed, kept = served.worker_pids(2)
        os.kill(killed, signal.SIGKILL)
        served.log.wait_for(rf"Worker \[{killed}\] died \(killed by SIGKILL\); starting another")
        replacement = served.worker_pids(3)[2]
        assert replacement not in (killed, kept)
        assert served.process.poll() is None, "the parent serves on"
        chat_id = new_chat(served.url)
        for pid in (kept, replacement):
            with only(pid, (kept, replacement)):
                assert stop(served.url, chat_id).json() == {"success": True, "stopped": False}


def test_an_unreachable_store_is_refused_before_anything_listens():
    process = subprocess.run(
        command("--workers", "2", "--store", "redis://127.0.0.1:1/0"),
        capture_output=True,
        text=True,
        env=environment(),
        timeout=WAIT,
    )
    assert process.returncode == 2
    assert process.stdout == ""
    assert process.stderr.startswith("recoup-mock: cannot reach the store at redis://127.0.0.1:1/0: ")
    assert "Traceback" not in process.stderr


def test_a_worker_that_cannot_start_stops_the_parent_with_an_error(tmp_path: Path):
    # This Redis answers, but runs no script: each worker's app fails as it loads the seed.
    redis = start_redis(tmp_path, flags=("--rename-command", "EVAL", "", "--rename-command", "EVALSHA", ""))
    try:
        process = subprocess.run(
            command("--workers", "2", "--store", redis.url, "--shutdown-timeout", "1"),
            capture_output=True,
            text=True,
            env=environment(),
            timeout=WAIT,
        )
    finally:
        redis.stop()
    assert process.returncode == 3
    assert f"2 worker processes sharing {redis.url}" in process.stdout
    last = process.stderr.splitlines()[-1]
    assert re.fullmatch(
        r"recoup-mock: worker \[\d+\] could not start \(exit status 3, the app failed to start; "
        r"its error is logged above\): stopped every worker",
        last,
    ), process.stderr
    started = [int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", process.stderr)]
    assert started, process.stderr
    assert not any(alive(pid) for pid in started), "no worker outlives the parent"
    assert "is serving" not in process.stderr, "no worker served"
