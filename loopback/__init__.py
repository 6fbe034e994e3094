"""Servers as child processes on loopback, for the tests and the benchmarks alike: a free port,
waiting until one answers (or saying why it never will), a `redis-server`, and stopping whatever a
server started.

A server started with `session=True` runs in a process group of its own, so that stopping it ends
what it started too (a supervisor's workers, Prism's node), and a signal to it reaches no one else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
STOP_TIMEOUT = 10.0
"""Seconds a server gets to exit on SIGTERM before it is killed."""
REDIS_TIMEOUT = 10.0
"""Seconds `redis-server` gets to answer PING, and each command to be answered."""


@dataclass
class Served:
    """A server running as a child process, on `port` of loopback."""

    process: subprocess.Popen[str] | subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def status_kb(pid: int, name: str) -> int | None:
    """A size field of `/proc/PID/status` (`VmRSS`, `VmHWM`), in KiB; None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return None


class ServerFailed(RuntimeError):
    """A server that exited, did not answer in time, or answered wrong; the message says which, with
    the end of its output."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def answers_http(port: int, timeout: float = 1.0) -> bool:
    """True when a plain HTTP request to the port gets a status line back (any status)."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(b"GET /__probe HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return sock.recv(16).startswith(b"HTTP/")
    except OSError:
        return False


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file ("" when there is none)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_until(
    ready: Callable[[], bool],
    process: subprocess.Popen[bytes] | subprocess.Popen[str],
    *,
    within: float,
    what: str,
    output: Callable[[], str] = lambda: "",
) -> None:
    """Poll `ready` until it is true; `ServerFailed` naming `what` once `process` has exited or
    `within` seconds have passed, with `output()` (the end of its log) to say why."""
    deadline = time.monotonic() + within
    while not ready():
        if process.poll() is not None:
            raise ServerFailed(f"{what} exited with {process.returncode}:\n{output()}")
        if time.monotonic() > deadline:
            raise ServerFailed(f"{what} did not answer within {within:g} s:\n{output()}")
        time.sleep(0.02)


def stop_process(process: subprocess.Popen[bytes] | subprocess.Popen[str], *, group: bool = False) -> None:
    """SIGTERM, then SIGKILL after `STOP_TIMEOUT`; `group`: to its whole process group (a process
    started with `start_new_session`), so that what it started ends with it."""

    def send(signal_number: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(process.pid, signal_number)
            else:
                process.send_signal(signal_number)

    if process.poll() is None:
        send(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            send(signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT)
    elif group:
        send(signal.SIGKILL)  # the leader is gone; whatever it left in its group goes too


@dataclass
class Redis:
    """A `redis-server` on loopback without persistence (unless its flags ask for it), which may
    be stopped and started again on the same port, with the same directory."""

    executable: str
    directory: Path
    flags: Sequence[str] = ()
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    @property
    def log(self) -> Path:
        return self.directory / f"redis-{self.port}.log"

    def command(self, *words: str) -> bytes:
        """One inline command; the first line of its reply (`+PONG`, `+OK`, `-ERR ...`)."""
        with socket.create_connection((HOST, self.port), timeout=REDIS_TIMEOUT) as sock:
            sock.sendall(" ".join(words).encode() + b"\r\n")
            reply = b""
            while b"\r\n" not in reply and (data := sock.recv(4096)):
                reply += data
        return reply.split(b"\r\n", 1)[0]

    def answers(self) -> bool:
        with contextlib.suppress(OSError):
            return self.command("PING") == b"+PONG"
        return False

    def start(self) -> None:
        """Start it and wait for its PONG; `ServerFailed` with its log's end otherwise."""
        argv = [self.executable, "--save", "", "--appendonly", "no", *self.flags]
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [*argv, "--port", str(self.port), "--bind", HOST],
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        what = f"redis-server on port {self.port}"
        wait_until(self.answers, self.process, within=REDIS_TIMEOUT, what=what, output=lambda: tail(self.log))

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


@contextlib.contextmanager
def redis_server(executable: str, directory: Path, flags: Sequence[str] = ()) -> Iterator[Redis]:
    """A started `Redis` on a free port for the block; a port taken meanwhile is tried again."""
    for attempt in range(3):
        redis = Redis(executable, directory, flags)
        try:
            redis.start()
        except ServerFailed:
            redis.stop()
            if "Address already in use" not in tail(redis.log) or attempt == 2:
                raise
            continue
        try:
            yield redis
        finally:
            redis.stop()
        return
