"""The Recoup frontend's own transport as the mock's client: `WorkflowChatTransport` of
`@workflow/ai`, configured as `recoupable/app`'s `lib/chat/createWorkflowChatTransport.ts`
configures it, run by node against `recoup-mock serve` on loopback, on the memory store and on two
workers over a real `redis-server`.

The transport reconnects to `GET /api/chat/{chatId}/stream?startIndex=N` whenever a stream ends
without `finish`, so every answer the mock ends (finished, stopped, failed) must end with it, and
every request it makes is counted: a stop that sends it back to the server is a failure here.

Two pairs run: the frontend's (`@workflow/ai` 4.2.0 over `ai` 6.0.241) and the newest (`^6` over
`^6`), installed with `npm install --prefix tests/transport/frontend` (and `.../newest`). Without
them the module is skipped, unless `RECOUP_MOCK_REQUIRE_TRANSPORT` is set (as CI sets it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.mock_process import STORES, Served, serving_on

TRANSPORT_DIR = Path(__file__).resolve().parent / "transport"
CLIENT = TRANSPORT_DIR / "client.mjs"
PAIRS = {"frontend": ("4.2.0", "6.0.241"), "newest": None}
"""Each pair's directory and the versions it must load (`@workflow/ai`, `ai`); the newest: any v6."""
KEY = "demo-key-a"
"""The built-in demo seed's first account."""
RUN_TIMEOUT = 60.0
PACING = ("--first-token-delay", "0.05", "--tokens-per-second", "200")
"""A quick answer whose tool call (the default 1.5 s) still outlasts a stop sent when its input is
available."""
NODE = shutil.which("node")


def missing() -> str | None:
    if NODE is None:
        return "node is not installed"
    for pair in PAIRS:
        if not (TRANSPORT_DIR / pair / "node_modules" / "@workflow" / "ai" / "package.json").exists():
            return f"@workflow/ai is not installed (npm install --prefix tests/transport/{pair})"
    return None


if (reason := missing()) is not None:
    if os.environ.get("RECOUP_MOCK_REQUIRE_TRANSPORT"):
        raise RuntimeError(f"{reason} and RECOUP_MOCK_REQUIRE_TRANSPORT is set")
    pytest.skip(reason, allow_module_level=True)


@pytest.fixture(scope="module", params=STORES)
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    """`recoup-mock serve` as a user starts it, but quicker, on one store or the other."""
    redis_url = None if request.param == "memory" else request.getfixturevalue("redis_url")
    with serving_on(request.param, redis_url, *PACING) as served:
        yield served


@pytest.fixture
def http(served: Served) -> Iterator[httpx.Client]:
    # Idle while the transport runs: its pooled connection must expire before the server's 5 s
    # keep-alive closes it, or a request can meet the close (httpx's default expiry is also 5 s).
    limits = httpx.Limits(keepalive_expiry=2.0)
    with httpx.Client(base_url=served.url, headers={"x-api-key": KEY}, timeout=30, limits=limits) as client:
        yield client


@pytest.fixture(params=list(PAIRS))
def pair(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def new_chat(http: httpx.Client) -> dict[str, str]:
    response = http.post("/api/sessions", json={})
    assert response.status_code == 200, response.text
    body = response.json()
    return {"sessionId": body["session"]["id"], "chatId": body["chat"]["id"]}


def run(pair: str, served: Served, scenario: str, chat: dict[str, str]) -> dict[str, Any]:
    """One scenario of `client.mjs` with `pair`; its output, after checking which versions ran."""
    assert NODE is not None
    args = {"pair": pair, "base": served.url, "key": KEY, "scenario": scenario, **chat}
    try:
        node = subprocess.run(
            [NODE, str(CLIENT), json.dumps(args)],
            cwd=TRANSPORT_DIR,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
    except subprocess.TimeoutExpired as expired:
        pytest.fail(f"{pair} {scenario}: no end within {RUN_TIMEOUT} s (a reconnect loop?)\n{expired.stdout}")
    ran = f"exit {node.returncode}\n{node.stdout}\n{node.stderr}"
    assert node.returncode == 0 and node.stdout.strip(), ran
    result: dict[str, Any] = json.loads(node.stdout)
    result["stderr"] = node.stderr
    expected = PAIRS[pair]
    versions = (result["versions"]["workflowAi"], result["versions"]["ai"])
    if expected is not None:
        assert versions == expected
    else:
        assert versions[0].split(".")[0] == "6" and versions[1].split(".")[0] == "6", versions
    return result


def no_errors(result: dict[str, Any]) -> str:
    """The assertion message when the transport erred or complained."""
    errors = "\n".join(e["stack"] or e["message"] for e in result["errors"])
    return f"{result['pair']} {result['versions']}:\n{errors}\nstderr:\n{result['stderr']}"


def assert_clean(result: dict[str, Any]) -> None:
    """No error reached the caller, and the transport logged none of the errors it swallows."""
    assert result["errors"] == [], no_errors(result)
    assert "Error in chat" not in result["stderr"], no_errors(result)


def types(message: dict[str, Any]) -> list[str]:
    return [part["type"] for part in message["parts"]]


def saved_answer(http: httpx.Client, chat: dict[str, str]) -> dict[str, Any]:
    response = http.get(f"/api/sessions/{chat['sessionId']}/chats/{chat['chatId']}")
    assert response.status_code == 200
    state = response.json()
    assert state["isStreaming"] is False
    answer: dict[str, Any] = state["messages"][-1]
    return answer


def assert_saved_as_assembled(saved: dict[str, Any], assembled: dict[str, Any]) -> None:
    """The mock's saved answer has the parts the transport assembled, each field as the mock has it."""
    assert types(saved) == types(assembled)
    for mine, theirs in zip(saved["parts"], assembled["parts"], strict=True):
        assert {key: theirs.get(key) for key in mine} == mine


def test_a_whole_answer_arrives_in_one_request(pair: str, served: Served, http: httpx.Client):
    chat = new_chat(http)
    result = run(pair, served, "send", chat)
    assert_clean(result)
    assert result["requests"] == [{"method": "POST", "path": "/api/chat", "status": 200}]
    assert types(result["message"]) == ["step-start", "reasoning", "tool-search_web", "step-start", "text"]
    assert result["chunks"].count("start") == 1 and result["chunks"][-1] == "finish"
    assert "message-metadata" in result["chunks"]
    assert_saved_as_assembled(saved_answer(http, chat), result["message"])


def test_stop_ends_the_answer_without_an_error_or_a_reconnect(pair: str, served: Served, http: httpx.Client):
    chat = new_chat(http)
    result = run(pair, served, "stop", chat)
    assert result["stop"] == {"status": 200, "body": {"success": True, "stopped": True}}
    assert_clean(result)
    # The stopped stream ends with `finish`, so the transport does not come back for more.
    assert result["requests"] == [{"method": "POST", "path": "/api/chat", "status": 200}]
    assert result["chunks"][-2:] == ["abort", "finish"]
    tool = result["message"]["parts"][-1]
    assert tool["type"] == "tool-search_web"
    assert tool["state"] == "output-error" and tool["errorText"] == "Cancelled"
    assert_saved_as_assembled(saved_answer(http, chat), result["message"])


def test_a_second_send_while_an_answer_runs_follows_that_answer(
    pair: str, served: Served, http: httpx.Client
):
    chat = new_chat(http)
    result = run(pair, served, "second", chat)
    assert_clean(result)
    assert result["second"] is not None, "the answer ended before the second send"
    assert [r["status"] for r in result["requests"]] == [200, 200]
    first, second = result["runIds"]
    assert first == second, "the second send streams the live run"
    assert result["second"]["message"] == result["message"], "both tabs assemble the same answer"
    saved = saved_answer(http, chat)
    assert_saved_as_assembled(saved, result["message"])
    messages = http.get(f"/api/sessions/{chat['sessionId']}/chats/{chat['chatId']}").json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"], "the second message is not kept"


STEP_ONE = ["step-start", "reasoning", "tool-get_tour_dates"]
DROPPED_SCRIPT = [
    {"type": "reasoning", "text": "Checking the dates."},
    # A run that ended is not resumed (204, as on the service), so the tool runs long enough for
    # node to start and connect on a loaded machine; each reconnect then comes within milliseconds.
    {"type": "tool", "name": "get_tour_dates", "input": {"year": 2027}, "output": {"n": 2}, "seconds": 4},
    {"type": "text", "text": "Two dates in 2027. " * 40},
]


def start_dropping_answer(http: httpx.Client, chat: dict[str, str]) -> None:
    response = http.post(
        f"/__mock/chats/{chat['chatId']}/generate", json={"parts": DROPPED_SCRIPT, "fault": "drop-stream"}
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("scenario", ["resume", "send"], ids=["reloaded-page", "second-send"])
def test_a_drop_stream_answer_is_assembled_whole_from_its_reconnects(
    pair: str, served: Served, http: httpx.Client, scenario: str
):
    chat = new_chat(http)
    start_dropping_answer(http, chat)
    result = run(pair, served, scenario, chat)
    assert_clean(result)
    reconnects = [r for r in result["requests"] if r["method"] == "GET"]
    assert len(reconnects) >= 2, result["requests"]
    assert all(r["status"] == 200 for r in result["requests"]), result["requests"]
    starts = [int(r["path"].rsplit("startIndex=", 1)[1]) for r in reconnects]
    assert starts == sorted(set(starts)), f"each reconnect goes on from where the last stopped: {starts}"
    assert result["chunks"].count("start") == 1 and result["chunks"].count("finish") == 1
    assert types(result["message"]) == [*STEP_ONE, "step-start", "text"]
    assert result["message"]["parts"][-1]["text"] == DROPPED_SCRIPT[2]["text"], "nothing lost or doubled"
    assert_saved_as_assembled(saved_answer(http, chat), result["message"])


def test_a_reloaded_page_with_nothing_to_resume_gets_a_quiet_204(
    pair: str, served: Served, http: httpx.Client
):
    chat = new_chat(http)
    result = run(pair, served, "resume", chat)
    assert_clean(result)
    path = f"/api/chat/{chat['chatId']}/stream?startIndex=0"
    assert result["requests"] == [{"method": "GET", "path": path, "status": 204}]
