"""A real `redis-server` on a free loopback port for the tests that need a shared store.

`redis_url` starts one per test session (no persistence, in a temporary directory) and yields its
URL; `redis_store_flags` gives each test its own key prefix on it, so tests never see each other's
keys. Without `redis-server` on the PATH the tests that use them are skipped, or fail when
RECOUP_MOCK_REQUIRE_REDIS=1 (in CI, where a skipped test would hide that nothing ran).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

START_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _start(executable: str, directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`redis-server` on a free port, once it answers PING; a port taken meanwhile is tried again."""
    for _ in range(3):
        port = _free_port()
        log = directory / f"redis-{port}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [executable, "--save", "", "--appendonly", "no", "--port", str(port), "--bind", "127.0.0.1"],
                cwd=directory,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            if _answers_ping(port):
                return process, port
            time.sleep(0.02)
        if process.poll() is None:
            process.kill()
        process.wait()
        text = log.read_text(errors="replace")
        if "Address already in use" not in text:
            pytest.fail(f"redis-server did not start on port {port}:\n{text}")
    pytest.fail("redis-server found no free port in 3 tries")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`redis://127.0.0.1:PORT/0` of a `redis-server` that runs for the session."""
    executable = shutil.which("redis-server")
    if executable is None:
        if os.environ.get("RECOUP_MOCK_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server is not installed, and RECOUP_MOCK_REQUIRE_REDIS=1")
        pytest.skip("redis-server is not installed (RECOUP_MOCK_REQUIRE_REDIS=1 makes this a failure)")
    process, port = _start(executable, tmp_path_factory.mktemp("redis"))
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def redis_store_flags(redis_url: str) -> tuple[str, ...]:
    """`recoup-mock serve` flags for the session's Redis under a key prefix of this test's own."""
    return ("--store", redis_url, "--store-prefix", f"test-{uuid.uuid4().hex}")


class RedisServer:
    """A `redis-server` the test stops and starts again on the same port (and, when persistent,
    with the same data: an append-only file in `directory`)."""

    def __init__(self, directory: Path, *, persistent: bool, flags: tuple[str, ...] = ()) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            if os.environ.get("RECOUP_MOCK_REQUIRE_REDIS") == "1":
                pytest.fail("redis-server is not installed, and RECOUP_MOCK_REQUIRE_REDIS=1")
            pytest.skip("redis-server is not installed")
        self.executable = executable
        self.directory = directory
        self.port = _free_port()
        self.persistence = ["--appendonly", "yes", "--appendfsync", "always"] if persistent else []
        self.flags = list(flags)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        flags = ["--save", "", "--appendonly", "no", *self.persistence, *self.flags]
        with (self.directory / "redis.log").open("ab") as output:
            self.process = subprocess.Popen(
                [self.executable, *flags, "--port", str(self.port), "--bind", "127.0.0.1"],
                cwd=self.directory,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers_ping(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server did not start: {(self.directory / 'redis.log').read_text()}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def start_redis(directory: Path, *, persistent: bool = False, flags: tuple[str, ...] = ()) -> RedisServer:
    server = RedisServer(directory, persistent=persistent, flags=flags)
    server.start()
    return server
