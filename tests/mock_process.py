"""`recoup-mock serve` in a process of its own on a free loopback port, as its users run it."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator

from loopback import Served, stop_process, wait_until

START_DEADLINE = 30.0


STORES = ("memory", "redis-2-workers")
"""How `serving_on` runs the mock: one process on the memory store, or two workers on a real Redis."""


@contextlib.contextmanager
def serving_on(store: str, redis_url: str | None, *flags: str) -> Iterator[Served]:
    """`recoup-mock serve FLAGS` on one of `STORES` (a Redis one under a key prefix of its own)."""
    if store != "memory":
        assert redis_url is not None
        flags += ("--store", redis_url, "--store-prefix", f"test-{uuid.uuid4().hex}", "--workers", "2")
    with mock_process(*flags) as served:
        yield served


@contextlib.contextmanager
def mock_process(*flags: str) -> Iterator[Served]:
    """`recoup-mock serve --port 0 FLAGS`, once it answers, until the block ends."""
    with recoup_mock_process("serve", *flags, banner=r"Recoup mock on", ready="/openapi.json") as served:
        yield served


@contextlib.contextmanager
def recoup_mock_process(command: str, *flags: str, banner: str, ready: str) -> Iterator[Served]:
    """`recoup-mock COMMAND --port 0 FLAGS`, once `GET ready` answers, until the block ends;
    `banner` is how its first line begins, before its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_server.cli", command, "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()  # "Recoup mock on http://127.0.0.1:PORT ..."
        port = re.search(banner + r" http://127\.0\.0\.1:(\d+)", first_line)
        assert port, f"no banner: {first_line}{'' if first_line else process.communicate()[1]}"
        served = Served(process, int(port.group(1)))
        # The banner comes before the server (or every worker) serves.
        wait_until(
            lambda: _answers(served, ready),
            process,
            within=START_DEADLINE,
            what=served.url,
            output=lambda: process.communicate()[1] if process.poll() is not None else "",
        )
        yield served
    finally:
        stop_process(process)
        with contextlib.suppress(ValueError):  # the block may have read its output already
            process.communicate()


def _answers(served: Served, ready: str) -> bool:
    try:
        with urllib.request.urlopen(f"{served.url}{ready}", timeout=2) as answer:
            answer.read()
        return True
    except OSError:
        return False
