"""Running the contract suite as its users do (`recoup-contract`), against servers on loopback.

The suite runs in the test's own process: `recoup-contract`'s `main` is the command's whole code,
and a new Python process would only add its start-up (seconds of imports) to every run. One test
runs the installed command itself (`run_command`).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import random
import re
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_server.config import Config
from mock_server.http.app import create_app
from tests.asgi_server import serving
from tests.conftest import KEY_A, KEY_B, TEST_CONFIG, TEST_SEED

SUITE_TIMEOUT = 600
SEEDS = (1, 2, 3)
LATENCY = 0.15
"""Seconds added before every answer by `AddedLatency`: a distant or busy server."""
CHAT_A = "11111111-0000-4000-8000-0000000000a1"
CHAT_B = "22222222-0000-4000-8000-0000000000b1"
SEED_WITH_CHATS = {
    "accounts": [
        {"id": "artist-a", "api_keys": [KEY_A], "sessions": [{"chats": [{"id": CHAT_A}]}]},
        {"id": "artist-b", "api_keys": [KEY_B], "sessions": [{"chats": [{"id": CHAT_B}]}]},
    ]
}
IDENTITIES = ("--api-key", KEY_A, "--other-api-key", KEY_B)


@dataclass(frozen=True)
class SuiteRun:
    returncode: int
    stdout: str
    stderr: str


# sys.stdout and sys.stderr are the process's: one in-process run at a time writes its report.
_REPORT_STREAMS = threading.Lock()


def run_suite(*args: str) -> SuiteRun:
    """`recoup-contract ARGS`, run by its `main` in this process, with what it printed."""
    from contract_tests import cli

    stdout, stderr = io.StringIO(), io.StringIO()
    with _REPORT_STREAMS, contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli.main(list(args))
    return SuiteRun(code, stdout.getvalue(), stderr.getvalue())


def run_command(*args: str) -> SuiteRun:
    """The `recoup-contract` command itself, in a process of its own."""
    done = subprocess.run(
        [str(Path(sys.executable).with_name("recoup-contract")), *args],
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT,
        check=False,
    )
    return SuiteRun(done.returncode, done.stdout, done.stderr)


async def run_suite_against(url: str, *args: str) -> tuple[int, str]:
    """The suite, on a thread of its own, against a server this test's loop serves; its exit status
    and report."""
    run = await asyncio.to_thread(run_suite, "--base-url", url, *args)
    return run.returncode, run.stdout + run.stderr


def rule_status(report: str, rule: str) -> str | None:
    match = re.search(
        rf"^  (HOLDS|VIOLATED|NOT CHECKED|SUITE DEFECT)\s+{re.escape(rule)}$", report, re.MULTILINE
    )
    return match.group(1) if match else None


def curl_lines(report: str) -> str:
    return "\n".join(line for line in report.splitlines() if "$ curl " in line)


def violated_rules(report: str) -> set[str]:
    return set(re.findall(r"^  VIOLATED\s+(\S.*)$", report, re.MULTILINE))


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    async with serving(app) as port:
        yield f"http://127.0.0.1:{port}"


@asynccontextmanager
async def mock_served(config: Config = TEST_CONFIG, seed: dict[str, Any] = TEST_SEED) -> AsyncIterator[str]:
    app = create_app(config, seed)
    await app.runtime.start()
    try:
        async with served(app) as url:
            yield url
    finally:
        await app.runtime.close()


class AddedLatency:
    """Delays the start of every answer, as a distant or busy server would."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def delayed(message: Message) -> None:
            if message["type"] == "http.response.start":
                await asyncio.sleep(self.seconds)
            await send(message)

        await self.app(scope, receive, delayed)


class OddFraming:
    """Event streams framed in legal but unusual ways: CRLF line ends, a comment line before every
    event, and one byte per write (a client must reassemble events across any split)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        streaming = False

        async def framed(message: Message) -> None:
            nonlocal streaming
            if message["type"] == "http.response.start":
                content_type = dict(message.get("headers", [])).get(b"content-type", b"")
                streaming = content_type.startswith(b"text/event-stream")
            if not (streaming and message["type"] == "http.response.body"):
                await send(message)
                return
            body = message.get("body", b"").replace(b"\n", b"\r\n").replace(b"data:", b": ping\r\ndata:")
            for i in range(len(body)):
                await send({"type": "http.response.body", "body": body[i : i + 1], "more_body": True})
            if not message.get("more_body", False):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        await self.app(scope, receive, framed if scope["type"] == "http" else send)


class RequestJitter:
    """Each request reaches the app after a random delay (up to `most` seconds), as over a network
    with jitter: a later request may overtake an earlier one."""

    def __init__(self, app: ASGIApp, most: float, seed: int = 1) -> None:
        self.app = app
        self.most = most
        self.random = random.Random(seed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await asyncio.sleep(self.random.uniform(0.05, self.most))
        await self.app(scope, receive, send)
