"""Servers under test as child processes, measured: start-up until HTTP answers, RSS, CPU time.

Starting, waiting and stopping are `loopback`'s, which the tests use too. Each server runs in a
process group of its own, so that stopping it ends whatever it started too (Prism's node).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from loopback import HOST, ServerFailed, answers_http, status_kb, stop_process, tail, wait_until


def _stat_fields(pid: int) -> list[str]:
    """The fields of `/proc/PID/stat` after the command's name: state, parent id, ...; [] when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return text.rsplit(")", 1)[-1].split()


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`: its children, theirs, and so on (from /proc's parent ids)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))):
            parents[int(entry.name)] = int(fields[1])
    found: list[int] = []
    level = {pid}
    while level:
        level = {child for child, parent in parents.items() if parent in level}
        found.extend(sorted(level))
    return found


def cpu_ticks(pids: Sequence[int]) -> int:
    """User and system CPU time the processes have used, in clock ticks (those gone count 0)."""
    return sum(int(f[11]) + int(f[12]) for f in map(_stat_fields, pids) if len(f) > 12)


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    started_in: float = 0.0

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def rss_mb(self) -> float | None:
        kb = status_kb(self.process.pid, "VmRSS")
        return kb / 1024 if kb is not None else None

    def tree_rss_mb(self) -> float | None:
        """RSS of the server and every process below it (a supervisor's workers)."""
        kbs = [status_kb(pid, "VmRSS") for pid in [self.process.pid, *descendants(self.process.pid)]]
        return sum(kb for kb in kbs if kb is not None) / 1024 if kbs[0] is not None else None

    def peak_rss_mb(self) -> float | None:
        kb = status_kb(self.process.pid, "VmHWM")
        return kb / 1024 if kb is not None else None

    def tail(self, lines: int = 15) -> str:
        return tail(self.log, lines)

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise ServerFailed(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")

    def wait_answering(self, timeout: float) -> None:
        wait_until(
            lambda: answers_http(self.port), self.process, within=timeout, what=self.name, output=self.tail
        )

    def stop(self) -> None:
        stop_process(self.process, group=True)


@contextlib.contextmanager
def serving(
    name: str,
    command: Sequence[str],
    port: int,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> Iterator[Server]:
    """Start `command` (which must listen on `port`), wait until HTTP answers, stop it afterwards.

    `Server.started_in` is the time from the process's start until the first HTTP answer.
    """
    with tempfile.NamedTemporaryFile(prefix="bench-", suffix=".log", delete=False) as log_file:
        log = Path(log_file.name)
    with log.open("wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
    server = Server(name, process, port, log)
    try:
        server.wait_answering(timeout)
        server.started_in = time.perf_counter() - started
        yield server
        server.check_alive()
    finally:
        server.stop()
        log.unlink(missing_ok=True)
