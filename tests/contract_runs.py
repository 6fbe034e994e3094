"""Running the contract suite as its users do, in a second process, against servers on loopback."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_server.config import Config
from mock_server.http.app import create_app
from tests.conftest import KEY_A, KEY_B, TEST_CONFIG, TEST_SEED
from tests.loopback import serving

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


def run_suite(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "contract_tests.cli", *args],
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT,
        check=False,
    )


async def run_suite_against(url: str, *args: str) -> tuple[int, str]:
    """The suite in a second process, against a server this test's loop serves."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "contract_tests.cli",
        "--base-url",
        url,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), SUITE_TIMEOUT)
    assert process.returncode is not None
    return process.returncode, output.decode()


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
