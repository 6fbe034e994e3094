"""Stock Schemathesis, its own CLI with every check and every phase, passes the served document
against `recoup-mock serve`, and fails a server whose streams break the contract.

Schemathesis reads 20 events of an event stream by default; here it reads every event (a
configuration file raises `max-stream-events`), so each answer's last event, `data: [DONE]`, is
judged against the document's `UIMessageStreamEvent` too.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_server.config import Config
from mock_server.http.app import create_app
from tests.asgi_server import serving
from tests.conftest import KEY_A, TEST_SEED
from tests.mock_process import mock_process

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
QUICK = ("--first-token-delay", "0.01", "--tokens-per-second", "0", "--tool-seconds", "0.05")
"""Answers that end in a few milliseconds, so that every stream is read to its end."""
RUN_TIMEOUT = 300.0
CONFIG = """\
max-stream-events = 100000
request-timeout = 30

# The service reads a body it cannot parse as {} on these two routes (safeParseJson), so a garbled
# body is accepted there by design: a 200, which negative_data_rejection would call a fault.
[[operations]]
include-operation-id = ["createSession", "createSessionChat"]
checks.negative_data_rejection.expected-statuses = ["200", "4XX", "5XX"]
"""


async def schemathesis(tmp_path: Path, url: str, key: str, *only: str) -> tuple[int, str]:
    """`schemathesis run URL/openapi.json --checks all`, bounded and seeded, on every operation or
    on the operation ids `only`; its exit code and output."""
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    run = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        "15",
        "--seed",
        "1",
        "-H",
        f"x-api-key: {key}",
        "--no-color",
        *[flag for operation_id in only for flag in ("--include-operation-id", operation_id)],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        output, _ = await asyncio.wait_for(run.communicate(), RUN_TIMEOUT)
    except TimeoutError:
        run.kill()
        output, _ = await run.communicate()
        pytest.fail(f"schemathesis did not end within {RUN_TIMEOUT} s:\n{output.decode()}")
    assert run.returncode is not None
    return run.returncode, output.decode()


async def test_stock_schemathesis_passes_the_served_document(tmp_path: Path):
    with mock_process("--quiet", *QUICK) as served:
        code, output = await schemathesis(tmp_path, served.url, "demo-key-a")
    assert code == 0, output
    assert "FAILURES" not in output and "failed" not in output.split("Test cases:")[-1], output
    for phase in ("Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in output, output


class RenamedStepStart:
    """Every `start-step` chunk of `app`'s event streams renamed to a type no client knows."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def renaming(message: Message) -> None:
            if message["type"] == "http.response.body":
                body = message.get("body", b"").replace(b'"type":"start-step"', b'"type":"begin-step"')
                message = {**message, "body": body}
            await send(message)

        await self.app(scope, receive, renaming)


async def test_stock_schemathesis_fails_a_stream_chunk_the_contract_does_not_define(tmp_path: Path):
    config = Config(first_token_delay=0.01, tokens_per_second=0, tool_seconds=0.05)
    app = create_app(config, TEST_SEED)
    await app.runtime.start()
    try:
        async with serving(RenamedStepStart(app)) as port:
            # The operations that lead to a stream, so that the run reaches streams for sure.
            url = f"http://127.0.0.1:{port}"
            code, output = await schemathesis(tmp_path, url, KEY_A, "createSession", "sendChatMessage")
    finally:
        await app.runtime.close()
    assert code == 1, output
    assert "SSE event violates schema" in output, output
    assert '"type":"begin-step"' in output
