"""`recoup-mock serve`: flags, environment variables, start-up banner, and a clean shutdown."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx
import pytest

from loopback import answers_http, wait_until
from mock_server import flags
from mock_server.cli import build_parser
from mock_server.config import Config
from mock_server.http.runtime import Runtime

SERVE_FLAGS = (
    "--host",
    "--port",
    "--seed",
    "--first-token-delay",
    "--tokens-per-second",
    "--tool-seconds",
    "--stop-timeout",
    "--log-level",
    "--quiet",
    "--header-timeout",
    "--body-timeout",
    "--keep-alive-timeout",
    "--max-header-bytes",
    "--shutdown-timeout",
    "--max-store-bytes",
)


def test_serve_help_lists_every_option():
    result = subprocess.run(
        [sys.executable, "-m", "mock_server.cli", "serve", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    for flag in SERVE_FLAGS:
        assert flag in result.stdout
    assert "RECOUP_MOCK_" in result.stdout


def test_environment_variables_set_the_defaults(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RECOUP_MOCK_PORT", "5055")
    monkeypatch.setenv("RECOUP_MOCK_TOKENS_PER_SECOND", "12.5")
    monkeypatch.setenv("RECOUP_MOCK_FIRST_TOKEN_DELAY", "0.5")
    monkeypatch.setenv("RECOUP_MOCK_TOOL_SECONDS", "3")
    args = build_parser().parse_args(["serve"])
    assert (args.port, args.tokens_per_second, args.first_token_delay, args.tool_seconds) == (
        5055,
        12.5,
        0.5,
        3,
    )
    assert build_parser().parse_args(["serve", "--port", "6000"]).port == 6000


def test_on_disconnect_continue_keeps_a_left_answer_generating(monkeypatch: pytest.MonkeyPatch):
    settings = flags.settings_of(build_parser().parse_args(["serve", "--on-disconnect", "continue"]))
    assert Runtime(Config(**settings), {"accounts": []}).service.cancel_dropped is False
    assert Runtime(Config(), {"accounts": []}).service.cancel_dropped is True, "cancel by default"
    monkeypatch.setenv("RECOUP_MOCK_ON_DISCONNECT", "continue")
    assert build_parser().parse_args(["serve"]).on_disconnect == "continue"


@pytest.mark.parametrize(
    "argv",
    [
        ["--on-disconnect", "pause"],
        ["--port", "http"],
        ["--tokens-per-second", "-1"],
        ["--first-token-delay", "nan"],
        ["--tool-seconds", "inf"],
        ["--log-level", "loud"],
    ],
)
def test_invalid_flags_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["serve", *argv])
    assert exited.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize(("stop_signal", "exit_code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_serve_prints_keys_and_a_curl_line_then_shuts_down_cleanly(stop_signal: int, exit_code: int):
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_server.cli", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        text = ""
        while "curl" not in text:
            line = process.stdout.readline()
            assert line, f"the server ended before printing its banner: {process.stderr.read()}"
            text += line
        base_url = re.search(r"Recoup mock on (http://\S+)", text).group(1)
        assert "key demo-key-a" in text and "key demo-key-b" in text
        curl = re.search(r"curl -s -X POST (\S+) -H 'x-api-key: (\S+)'", text)
        assert curl, text
        wait_until(lambda: answers_http(int(base_url.rsplit(":", 1)[1])), process, within=30, what=base_url)
        response = httpx.post(curl.group(1), headers={"x-api-key": curl.group(2)})
        assert curl.group(1).startswith(base_url)
        assert response.json() == {"success": True, "stopped": True}
        process.send_signal(stop_signal)
        # The server ends its streams and shuts down, then exits normally (or 130 for Ctrl-C).
        assert process.wait(timeout=10) == exit_code
        log = process.stderr.read()
        assert "Application shutdown complete" in log
        assert "Traceback" not in log
    finally:
        process.kill()
        process.wait()


def test_quiet_serves_without_access_log_or_journal():
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_server.cli", "serve", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        base_url = re.search(r"Recoup mock on (http://\S+)", process.stdout.readline()).group(1)
        wait_until(lambda: answers_http(int(base_url.rsplit(":", 1)[1])), process, within=30, what=base_url)
        stop = httpx.post(
            f"{base_url}/api/chat/11111111-1111-4111-8111-111111111111/stop",
            headers={"x-api-key": "demo-key-a"},
        )
        assert stop.json() == {"success": True, "stopped": False}
        assert httpx.get(f"{base_url}/__mock/journal").json()["entries"] == []
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
        log = process.stderr.read()
        assert "POST /api/chat" not in log, "no access log"
        assert "Application startup complete" not in log, "warnings only"
    finally:
        process.kill()
        process.wait()


def test_a_seed_larger_than_the_byte_budget_is_refused_before_serving():
    result = subprocess.run(
        [sys.executable, "-m", "mock_server.cli", "serve", "--port", "0", "--max-store-bytes", "1K"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "the seed's chats and messages take" in result.stderr
    assert "more than --max-store-bytes (1,024)" in result.stderr
    assert "Traceback" not in result.stderr
