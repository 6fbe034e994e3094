"""The Vercel AI SDK itself as the mock's client: the oldest and the newest v6 (`ai@6.0.0`, `ai@^6`),
run by node through `DefaultChatTransport` and `readUIMessageStream` against a real uvicorn on
loopback, assemble a whole answer, a stop mid-tool and a resume mid-answer.

In 6.0.0 every chunk schema is strict: one field it does not define makes the transport's stream
error. An answer both versions read without an error is therefore valid for every v6 client.

The client is `tests/sdk/client.mjs` (one scenario per run, one JSON line out); both versions are
installed with `npm install --prefix tests/sdk`. Without them the module is skipped, unless
`RECOUP_MOCK_REQUIRE_SDK` is set (as CI sets it), when it fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from connexion import AsyncApp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from contract_tests.client import ChatRef, RecoupClient
from mock_server.config import Config
from mock_server.http.app import create_app
from tests.asgi_server import serving
from tests.conftest import KEY_A, TEST_SEED, AdminClient

SDK_DIR = Path(__file__).resolve().parent / "sdk"
CLIENT = SDK_DIR / "client.mjs"
OLDEST, NEWEST = "ai-oldest", "ai-newest"
"""The npm aliases of `tests/sdk/package.json`: `ai@6.0.0` and `ai@^6`."""
NEWEST_AT_LEAST = (6, 0, 231)
RUN_TIMEOUT = 60.0
"""Seconds one node run may take (a whole answer takes about three)."""
# A quick whole answer, and a tool that runs long enough for a stop sent when its input is available.
SDK_CONFIG = Config(first_token_delay=0.02, tokens_per_second=200, tool_seconds=1.0, stop_timeout=1.0)
# A resume: the tool runs long enough for node to start and reconnect twice while it runs, even on a
# loaded machine.
SCRIPT: list[dict[str, Any]] = [
    {"type": "reasoning", "text": "I need the tour dates."},
    {"type": "tool", "name": "get_tour_dates", "input": {"year": 2027}, "output": {"n": 2}, "seconds": 3.0},
    {"type": "text", "text": "Two dates in 2027: Paris in May, then Berlin in June."},
]

NODE = shutil.which("node")


def missing() -> str | None:
    """Why the SDK cannot run here, if it cannot."""
    if NODE is None:
        return "node is not installed"
    if not all((SDK_DIR / "node_modules" / sdk / "package.json").exists() for sdk in (OLDEST, NEWEST)):
        return "the AI SDK is not installed (npm install --prefix tests/sdk)"
    return None


if (reason := missing()) is not None:
    if os.environ.get("RECOUP_MOCK_REQUIRE_SDK"):
        raise RuntimeError(f"{reason} and RECOUP_MOCK_REQUIRE_SDK is set")
    pytest.skip(reason, allow_module_level=True)

both_sdks = pytest.mark.parametrize("sdk", [OLDEST, NEWEST])


@pytest.fixture
async def app() -> AsyncIterator[AsyncApp]:
    """The conftest's app (and so `live`, `live_url`, `admin`), paced for these runs."""
    app = create_app(SDK_CONFIG, TEST_SEED)
    await app.runtime.start()
    yield app
    await app.runtime.close()


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in version.split("-")[0].split("."))


async def run_client(sdk: str, base_url: str, scenario: str, chat: ChatRef | None = None) -> dict[str, Any]:
    """Run one scenario of `client.mjs` with `sdk`; its output, after checking which version ran."""
    args = {
        "sdk": sdk,
        "base": base_url,
        "key": KEY_A,
        "scenario": scenario,
        "chatId": chat.chat_id if chat else "00000000-0000-4000-8000-000000000000",
        "sessionId": chat.session_id if chat else None,
    }
    assert NODE is not None
    # A subprocess the event loop waits on, so the loop keeps serving the mock meanwhile.
    node = await asyncio.create_subprocess_exec(
        NODE,
        str(CLIENT),
        json.dumps(args),
        cwd=SDK_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(node.communicate(), RUN_TIMEOUT)
    except TimeoutError:
        node.kill()
        stdout, stderr = await node.communicate()
        pytest.fail(f"{sdk} {scenario}: no end within {RUN_TIMEOUT}s\n{stdout.decode()}\n{stderr.decode()}")
    assert node.returncode == 0 and stdout.strip(), (
        f"{sdk} {scenario}: exit {node.returncode}\nstdout: {stdout.decode()}\nstderr: {stderr.decode()}"
    )
    result: dict[str, Any] = json.loads(stdout)
    version = version_tuple(result["version"])
    if sdk == OLDEST:
        assert result["version"] == "6.0.0"
    else:
        assert version[0] == 6 and version >= NEWEST_AT_LEAST, result["version"]
    return result


def no_errors(result: dict[str, Any]) -> str:
    """The assertion message when `result` reports errors: each with its stack."""
    return "\n".join(
        f"{result['sdk']} {result['version']}: {e['stack'] or e['message']}" for e in result["errors"]
    )


def types(message: dict[str, Any]) -> list[str]:
    return [part["type"] for part in message["parts"]]


def assert_saved_as_assembled(saved: dict[str, Any], assembled: dict[str, Any]) -> None:
    """The mock's saved answer has the parts the SDK assembled (newer SDKs may add fields)."""
    assert saved["id"] == assembled["id"]
    assert types(saved) == types(assembled)
    for mine, theirs in zip(saved["parts"], assembled["parts"], strict=True):
        assert {key: theirs.get(key) for key in mine} == mine


@both_sdks
async def test_both_v6_clients_assemble_a_whole_agent_answer(sdk: str, live: RecoupClient, live_url: str):
    chat = await live.create_chat()
    result = await run_client(sdk, live_url, "send", chat)
    assert result["errors"] == [], no_errors(result)
    message = result["message"]
    assert message["role"] == "assistant"
    assert types(message) == ["step-start", "reasoning", "tool-search_web", "step-start", "text"]
    _, reasoning, tool, _, text = message["parts"]
    assert reasoning["state"] == "done" and reasoning["text"]
    assert tool["state"] == "output-available"
    assert tool["input"] == {"query": "Find my next tour dates", "limit": 3}
    assert len(tool["output"]["results"]) == 3
    assert text["state"] == "done" and "Find my next tour dates" in text["text"]
    assert result["toolStates"] == [
        "tool-search_web:input-streaming",
        "tool-search_web:input-available",
        "tool-search_web:output-available",
    ]
    state = await live.chat_state(chat)
    assert state["isStreaming"] is False
    assert_saved_as_assembled(state["messages"][-1], message)


@both_sdks
async def test_a_stop_mid_tool_reaches_both_clients_as_a_cancelled_tool_part(
    sdk: str, live: RecoupClient, live_url: str
):
    chat = await live.create_chat()
    # The client stops the chat once the tool's input is available, then reads on to the stream's end.
    result = await run_client(sdk, live_url, "stop", chat)
    assert result["stop"] == {"status": 200, "body": {"success": True, "stopped": True}}
    assert result["errors"] == [], no_errors(result)
    message = result["message"]
    assert types(message) == ["step-start", "reasoning", "tool-search_web"]
    tool = message["parts"][-1]
    assert tool["state"] == "output-error"
    assert tool["errorText"] == "Cancelled"
    assert tool["input"] == {"query": "Find my next tour dates", "limit": 3}
    assert result["toolStates"] == [
        "tool-search_web:input-streaming",
        "tool-search_web:input-available",
        "tool-search_web:output-error",
    ]
    state = await live.chat_state(chat)
    assert state["isStreaming"] is False
    assert_saved_as_assembled(state["messages"][-1], message)


async def wait_for_chunks(admin: AdminClient, chat: ChatRef, count: int) -> None:
    """Until the chat's running answer has streamed `count` chunks."""
    for _ in range(500):
        [running] = [g for g in (await admin.state())["generating"] if g["chatId"] == chat.chat_id]
        if running["chunks"] >= count:
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"the answer of {chat.chat_id} did not reach {count} chunks")


@both_sdks
async def test_both_clients_resume_mid_answer(
    sdk: str, live: RecoupClient, live_url: str, admin: AdminClient
):
    chat = await live.create_chat()
    assert (await admin.generate(chat.chat_id, parts=SCRIPT)).status_code == 200
    await wait_for_chunks(admin, chat, 4)  # start, start-step, reasoning-start, a reasoning delta
    result = await run_client(sdk, live_url, "resume", chat)
    assert result["errors"] == [], no_errors(result)
    # From the transport's default reconnect URL, GET /api/chat/{chatId}/stream: the whole answer.
    message = result["message"]
    assert types(message) == ["step-start", "reasoning", "tool-get_tour_dates", "step-start", "text"]
    _, reasoning, tool, _, text = message["parts"]
    assert reasoning == reasoning | {"text": "I need the tour dates.", "state": "done"}
    assert tool == tool | {"state": "output-available", "input": {"year": 2027}, "output": {"n": 2}}
    assert text == text | {"text": SCRIPT[2]["text"], "state": "done"}
    # From ?startIndex=N, N the chunk after the tool's input: only the tool's output arrived, and
    # the message so far, continued, is the same whole answer.
    resumed = result["resumed"]
    assert resumed["startIndex"] > 0
    assert resumed["message"] is not None, "the answer ended before the reconnect from startIndex"
    assert resumed["toolStates"] == ["tool-get_tour_dates:output-available"]
    assert resumed["message"] == message
    assert_saved_as_assembled((await live.chat_state(chat))["messages"][-1], message)


@both_sdks
async def test_reconnect_with_nothing_running_is_null(sdk: str, live: RecoupClient, live_url: str):
    chat = await live.create_chat()
    result = await run_client(sdk, live_url, "idle", chat)
    assert result["errors"] == [], no_errors(result)
    assert result["reconnect"] is None


EXTRA_FIELD_STREAM = [
    {"type": "start", "messageId": "msg_1"},
    {"type": "start-step"},
    {"type": "text-start", "id": "t"},
    {"type": "text-delta", "id": "t", "delta": "Hello"},
    {"type": "text-end", "id": "t"},
    {"type": "finish-step"},
    {"type": "finish", "extra": 1},
]


async def extra_field_answer(request: Request) -> Response:
    body = "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in EXTRA_FIELD_STREAM) + "data: [DONE]\n\n"
    return Response(body, media_type="text/event-stream", headers={"x-vercel-ai-ui-message-stream": "v1"})


async def test_the_oldest_client_errors_on_a_chunk_field_it_does_not_define():
    """The harness catches what these tests are for: one unknown field fails 6.0.0, not the newest."""
    server = Starlette(routes=[Route("/api/chat", extra_field_answer, methods=["POST"])])
    chat = ChatRef("00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002")
    async with serving(server) as port:
        oldest, newest = await asyncio.gather(
            *(run_client(sdk, f"http://127.0.0.1:{port}", "send", chat) for sdk in (OLDEST, NEWEST))
        )
    [error] = oldest["errors"]
    assert error["message"].startswith("Type validation failed")
    assert '"code": "unrecognized_keys"' in error["message"] and '"extra"' in error["message"]
    assert newest["errors"] == [], no_errors(newest)
    assert newest["message"]["parts"][-1] == {"type": "text", "text": "Hello", "state": "done"}
