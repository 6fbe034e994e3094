"""`recoup-mock proxy` as users start it, a process of its own in front of `recoup-mock serve` (one
process on the memory store, or two workers on a real `redis-server`): streams pass as they come,
stops cancel, SIGTERM writes the report, and no key reaches the disk or the log."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from mock_server.domain.seed import read_seed_file
from tests.mock_process import STORES, Served, recoup_mock_process, serving_on

KEY_A = "demo-key-a"
PACING = ("--first-token-delay", "0.05", "--tokens-per-second", "100", "--tool-seconds", "5")
USER_MESSAGE = {"id": "m1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}
WAIT = 30.0


@contextmanager
def proxy_process(upstream: str, *flags: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`recoup-mock proxy --upstream UPSTREAM --port 0 FLAGS` until the block ends: it and its URL."""
    banner, ready = r"Recoup contract proxy on", "/__mock/violations"
    with recoup_mock_process("proxy", "--upstream", upstream, *flags, banner=banner, ready=ready) as served:
        yield served.process, served.url


@pytest.fixture(scope="module", params=STORES)
def upstream(request: pytest.FixtureRequest) -> Iterator[Served]:
    redis_url = None if request.param == "memory" else request.getfixturevalue("redis_url")
    with serving_on(request.param, redis_url, *PACING) as served:
        yield served


def _first_event_after(
    client: httpx.Client, chat: dict[str, str]
) -> tuple[float, httpx.Response, Iterator[bytes]]:
    """Seconds from sending a message to the first event of its answer, the open answer and the
    rest of its body."""
    body = {"sessionId": chat["sessionId"], "chatId": chat["id"], "messages": [USER_MESSAGE]}
    sent = time.monotonic()
    answer = client.send(client.build_request("POST", "/api/chat", json=body), stream=True)
    pieces = answer.iter_raw()
    next(pieces)
    return time.monotonic() - sent, answer, pieces


def test_a_stopped_answer_streams_through_as_fast_as_direct_and_the_report_keeps_no_key(
    upstream: Served, tmp_path: Path
):
    report, recorded = tmp_path / "report.json", tmp_path / "recorded.yaml"
    with proxy_process(upstream.url, "--report", str(report), "--record", str(recorded)) as (process, url):
        timings = {}
        for name, base in (("direct", upstream.url), ("proxy", url)):
            with httpx.Client(base_url=base, headers={"x-api-key": KEY_A}, timeout=WAIT) as client:
                chat = client.post("/api/sessions", json={}).json()["chat"]
                timings[name], answer, pieces = _first_event_after(client, chat)
                assert client.post(f"/api/chat/{chat['id']}/stop").json() == {
                    "success": True,
                    "stopped": True,
                }
                rest = b"".join(pieces)
                answer.close()
                assert rest.rstrip().endswith(b"data: [DONE]") and b'"type":"abort"' in rest
        # The first event waits out the first-token delay either way; the proxy adds a hop, not a buffer.
        assert timings["proxy"] < timings["direct"] + 1.0, timings
        summary = httpx.get(f"{url}/__mock/violations").json()
        process.send_signal(signal.SIGTERM)
        _, log = process.communicate(timeout=WAIT)
    assert process.returncode == 0, log
    assert summary["errors"] == 0, summary["violations"][:3]
    written = json.loads(report.read_text())
    assert written["exchanges"] == summary["exchanges"] >= 3 and written["errors"] == 0
    assert KEY_A not in report.read_text() + recorded.read_text() and KEY_A not in log, (
        "no key on disk or in the log"
    )
    (account,) = read_seed_file(recorded)["accounts"]
    (chat,) = [chat for session in account["sessions"] for chat in session["chats"]]
    (reply,) = chat["answer"][0]["replies"]
    assert [chunk["type"] for _, chunk in reply][-2:] == ["abort", "finish"], "the stopped answer, as it came"
    assert account["api_keys"][0] in log, "the recording's new keys are said at shutdown"


def test_the_proxy_refuses_flags_that_cannot_work_with_a_clear_line():
    bad = [
        (["--upstream", "ftp://example.com"], "is not an upstream URL"),
        (["--upstream", "http://127.0.0.1:9", "--spec", "/nonexistent.yaml"], "cannot judge against --spec"),
    ]
    for flags, said in bad:
        done = subprocess.run(
            [sys.executable, "-m", "mock_server.cli", "proxy", "--port", "0", *flags],
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
        assert done.returncode == 2 and said in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_the_admin_paths_through_the_proxy_refuse_other_sites_and_rebound_names(upstream: Served):
    with proxy_process(upstream.url) as (_, url):
        rebound = httpx.get(f"{url}/__mock/state", headers={"host": "evil.example"})
        cross = httpx.get(f"{url}/__mock/violations", headers={"origin": "https://evil.example"})
        own = httpx.get(f"{url}/__mock/state")
    assert rebound.status_code == 403 and rebound.json()["status"] == "error", (
        "an upstream mock's keys stay put"
    )
    assert cross.status_code == 403
    assert own.status_code == 200
