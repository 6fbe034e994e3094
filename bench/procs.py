"""Servers under test as child processes: a free loopback port, start-up until HTTP answers, RSS, stop.

Each server runs in its own process group (its own session) so that stopping it ends whatever it
started too (Prism's node), and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"


class ServerFailed(RuntimeError):
    """A server that exited or never answered; the message has the tail of its stderr."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def answers_http(port: int, timeout: float = 1.0) -> bool:
    """True when a plain HTTP request to the port gets a status line back (any status)."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(b"GET /__bench_probe HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return sock.recv(16).startswith(b"HTTP/")
    except OSError:
        return False


def _status_kb(pid: int, field: str) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


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
        kb = _status_kb(self.process.pid, "VmRSS")
        return kb / 1024 if kb is not None else None

    def tree_rss_mb(self) -> float | None:
        """RSS of the server and every process below it (a supervisor's workers)."""
        kbs = [_status_kb(pid, "VmRSS") for pid in [self.process.pid, *descendants(self.process.pid)]]
        return sum(kb for kb in kbs if kb is not None) / 1024 if kbs[0] is not None else None

    def peak_rss_mb(self) -> float | None:
        kb = _status_kb(self.process.pid, "VmHWM")
        return kb / 1024 if kb is not None else None

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise ServerFailed(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")

    def wait_answering(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not answers_http(self.port):
            self.check_alive()
            if time.monotonic() > deadline:
                raise ServerFailed(f"{self.name} did not answer HTTP within {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.01)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


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
