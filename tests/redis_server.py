"""A real `redis-server` on a free loopback port for the tests that need a shared store.

`redis_url` starts one per test session (no persistence, in a temporary directory) and yields its
URL; `redis_store_flags` gives each test its own key prefix on it, so tests never see each other's
keys. Without `redis-server` on the PATH the tests that use them are skipped, or fail when
RECOUP_MOCK_REQUIRE_REDIS=1 (in CI, where a skipped test would hide that nothing ran). Starting and
stopping it is `loopback`'s, as it is the benchmarks'.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopback import Redis, ServerFailed, redis_server

PERSISTENT = ("--appendonly", "yes", "--appendfsync", "always")
"""Flags of a `redis-server` that keeps every write across a restart (in its directory)."""


def _executable() -> str:
    executable = shutil.which("redis-server")
    if executable is None:
        if os.environ.get("RECOUP_MOCK_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server is not installed, and RECOUP_MOCK_REQUIRE_REDIS=1")
        pytest.skip("redis-server is not installed (RECOUP_MOCK_REQUIRE_REDIS=1 makes this a failure)")
    return executable


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`redis://127.0.0.1:PORT/0` of a `redis-server` that runs for the session."""
    try:
        with redis_server(_executable(), tmp_path_factory.mktemp("redis")) as redis:
            yield redis.url
    except ServerFailed as failed:
        pytest.fail(str(failed))


@pytest.fixture
def redis_store_flags(redis_url: str) -> tuple[str, ...]:
    """`recoup-mock serve` flags for the session's Redis under a key prefix of this test's own."""
    return ("--store", redis_url, "--store-prefix", f"test-{uuid.uuid4().hex}")


def start_redis(directory: Path, *, persistent: bool = False, flags: tuple[str, ...] = ()) -> Redis:
    """A started `redis-server` the test stops and starts again on the same port (and, when
    `persistent`, with the same data); the test stops it."""
    server = Redis(_executable(), directory, (*(PERSISTENT if persistent else ()), *flags))
    try:
        server.start()
    except ServerFailed as failed:
        server.stop()
        pytest.fail(str(failed))
    return server
