"""The contract suite judges soundly: it passes a correct server in-process and over real sockets,
under any seed, latency or stream pace; it fails every mutant, in-process and over HTTP; it judges a
stop-only server on the stop alone; and its own faults end the run with exit 2, never a violation."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contract_tests.mutants import MUTANTS, Mutant, build_app
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


# A correct server passes


def test_contract_holds_for_the_mock_in_process(tmp_path: Path):
    junit = tmp_path / "contract.xml"
    result = run_suite("--junit-xml", str(junit))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "The contract holds." in result.stdout
    assert rule_status(result.stdout, "test_concurrent_stops_exactly_one_is_true") == "HOLDS"
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert int(suite.get("failures", "-1")) == 0
    names = [case.get("name") for case in suite.iter("testcase")]
    assert "test_foreign_chat_is_403" in names
    assert "test_every_operation_keeps_the_spec[POST /api/chat/{chatId}/stop]" in names
    assert len(names) == len(set(names)) >= 19, "one test case per rule"


@pytest.mark.parametrize("seed", SEEDS)
async def test_contract_holds_over_http_under_any_seed(seed: int):
    async with mock_served() as url:
        code, report = await run_suite_against(url, *IDENTITIES, "--max-examples", "25", "--seed", str(seed))
    assert code == 0, report
    assert f"Recoup stop contract: {url}" in report
    assert "The contract holds." in report
    assert "VIOLATED" not in report


async def test_contract_holds_over_http_with_latency_on_every_answer():
    app = create_app(TEST_CONFIG, TEST_SEED)
    await app.runtime.start()
    try:
        async with served(AddedLatency(app, LATENCY)) as url:
            code, report = await run_suite_against(url, *IDENTITIES, "--max-examples", "3")
    finally:
        await app.runtime.close()
    assert code == 0, report
    assert "VIOLATED" not in report
    assert rule_status(report, "test_stopped_stream_ends") == "HOLDS", report


@pytest.mark.parametrize("pace", [0.0, 0.3], ids=["answers-end-at-once", "slow-stream"])
async def test_contract_holds_however_fast_or_slow_answers_stream(pace: float):
    async with mock_served(Config(stream_pace=pace, stop_timeout=2.0)) as url:
        code, report = await run_suite_against(url, *IDENTITIES, "--max-examples", "5")
    assert code == 0, report
    assert "VIOLATED" not in report


def test_no_generation_reports_what_it_did_not_check():
    result = run_suite("--no-generation", "--max-examples", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    for rule in ("test_stopped_stream_ends", "test_concurrent_stops_exactly_one_is_true"):
        assert rule_status(result.stdout, rule) == "NOT CHECKED"
    assert "--no-generation" in result.stdout
    assert rule_status(result.stdout, "test_foreign_chat_is_403") == "HOLDS"


# A stop-only server


async def test_a_stop_only_contract_is_judged_with_the_stop_alone():
    async with mock_served(seed=SEED_WITH_CHATS) as url:
        code, report = await run_suite_against(
            url, *IDENTITIES, "--contract", "published", "--chat", CHAT_A, "--other-chat", CHAT_B
        )
    assert code == 0, report
    assert "published stop document" in report
    for rule in (
        "test_missing_or_wrong_credentials_are_401_first",
        "test_non_uuid_chat_id_is_400",
        "test_unknown_chat_is_404",
        "test_foreign_chat_is_403",
        "test_idle_stop_is_stopped_false_every_time",
    ):
        assert rule_status(report, rule) == "HOLDS", report
    assert rule_status(report, "test_stopped_stream_ends") == "NOT CHECKED"
    assert "no POST /api/sessions" in report
    assert "/api/sessions" not in curl_lines(report)


async def test_rules_that_need_chats_are_not_checked_when_the_target_cannot_make_them():
    async with mock_served(seed=SEED_WITH_CHATS) as url:
        code, report = await run_suite_against(url, *IDENTITIES, "--contract", "published")
    assert code == 0, report
    assert rule_status(report, "test_foreign_chat_is_403") == "NOT CHECKED"
    assert "--chat and --other-chat" in report
    assert rule_status(report, "test_unknown_chat_is_404") == "HOLDS"


def prism_command() -> list[str] | None:
    found = os.environ.get("RECOUP_PRISM") or shutil.which("prism")
    local = Path(__file__).parents[1] / ".ci" / "node_modules" / ".bin" / "prism"
    if found:
        return [found]
    return [str(local)] if local.exists() else None


# Prism's mock of the published document keeps no state, accepts any key and answers errors as
# problem+json: these are all its faults against the stop contract, and the report may name no other.
PRISM_FAULTS = {
    "test_every_operation_keeps_the_spec[POST /api/chat/{chatId}/stop]",
    "test_unknown_chat_is_404",
    "test_foreign_chat_is_403",
    "test_missing_or_wrong_credentials_are_401_first",
    "test_idle_stop_is_stopped_false_every_time",
    "test_error_bodies_are_json_error_objects",
    "test_non_uuid_chat_id_is_400",
}


async def test_prism_is_blamed_for_exactly_its_real_faults():
    command = prism_command()
    if command is None:
        if os.environ.get("RECOUP_MOCK_REQUIRE_PRISM"):
            pytest.fail("Prism (npm @stoplight/prism-cli) is not installed")
        pytest.skip("Prism (npm @stoplight/prism-cli) is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    spec = Path(__file__).parents[1] / "openapi" / "upstream" / "stop-chat.yaml"
    prism = await asyncio.create_subprocess_exec(
        *command,
        "mock",
        str(spec),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-v",
        "error",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        code, report = await run_suite_against(
            f"http://127.0.0.1:{port}",
            *IDENTITIES,
            "--contract",
            "published",
            "--chat",
            CHAT_A,
            "--other-chat",
            CHAT_B,
        )
    finally:
        prism.terminate()
        await prism.wait()
    assert code == 1, report
    found = violated_rules(report)
    assert found <= PRISM_FAULTS, f"blamed for what it does right: {found - PRISM_FAULTS}\n{report}"
    assert {"test_unknown_chat_is_404", "test_idle_stop_is_stopped_false_every_time"} <= found, report
    assert "without required `Allow` header" in report
    assert "application/problem+json" in report
    assert "/api/sessions" not in curl_lines(report)


# The suite's own faults


def test_a_key_that_cannot_be_sent_is_refused_before_anything_runs():
    result = run_suite("--base-url", "http://127.0.0.1:9", "--api-key", "key-a ", "--other-api-key", KEY_B)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--api-key cannot be sent in a header" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--api-key", KEY_A, "--other-api-key", "nobody's key"), "--other-api-key is refused by the target"),
        (("--api-key", "nobody's key", "--other-api-key", KEY_B), "--api-key is refused by the target"),
        ((*IDENTITIES, "--chat", CHAT_B, "--other-chat", CHAT_A), f"--chat {CHAT_B}: account A's stop"),
        ((*IDENTITIES, "--chat", CHAT_A), "--chat and --other-chat go together"),
    ],
    ids=["unknown-other-key", "unknown-key", "swapped-chats", "one-chat"],
)
async def test_a_wrong_key_or_chat_is_the_users_error_not_the_servers(args: tuple[str, ...], message: str):
    async with mock_served(seed=SEED_WITH_CHATS) as url:
        code, report = await run_suite_against(url, *args)
    assert code == 2, report
    assert message in report
    assert "VIOLATED" not in report


def test_a_remote_target_needs_both_keys():
    result = run_suite("--base-url", "http://127.0.0.1:9", "--api-key", "only-one")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--other-api-key" in result.stderr


UNSENDABLE_RULE = """
from contract_tests.rules import client, run


def test_a_rule_that_builds_an_illegal_request():
    async def body():
        await client("a").request("GET", "/openapi.json", headers={"authorization": "Bearer "})

    run(body)
"""


def test_a_request_the_suite_cannot_send_is_its_own_defect_not_a_violation(pytester: pytest.Pytester):
    pytester.makepyfile(test_unsendable=UNSENDABLE_RULE)
    result = pytester.runpytest_subprocess("-p", "contract_tests.conftest", "-p", "no:cacheprovider")
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR, output
    assert rule_status(output, "test_a_rule_that_builds_an_illegal_request") == "SUITE DEFECT", output
    assert "GET /openapi.json" in output
    assert "VIOLATED" not in output
    assert "nothing here counts against the server" in output


def test_the_cli_ends_a_run_with_a_suite_defect_with_exit_2(monkeypatch: pytest.MonkeyPatch):
    from contract_tests import cli

    monkeypatch.setattr("pytest.main", lambda args: pytest.ExitCode.INTERNAL_ERROR)
    assert cli.main([]) == cli.EXIT_ERROR


# Mutants are caught


@pytest.mark.parametrize("mutant", MUTANTS.values(), ids=lambda m: m.name)
def test_suite_catches_the_mutant(mutant: Mutant):
    result = run_suite("--mutant", mutant.name, "--rule", mutant.rule)
    assert result.returncode == 1, f"mutant {mutant.name} ({mutant.breaks}) passed:\n{result.stdout}"
    assert rule_status(result.stdout, mutant.rule) == "VIOLATED", result.stdout
    assert "$ curl " in result.stdout, "a violation shows the request that broke the rule"


# A race between stops over separate connections shows only when they reach the server together;
# more tries make seeing it near certain.
HTTP_EXAMPLES = {"racy-stop": "160"}


@pytest.mark.parametrize("mutant", MUTANTS.values(), ids=lambda m: m.name)
async def test_suite_catches_the_mutant_over_http(mutant: Mutant):
    app, runtime = build_app(mutant.name, TEST_SEED)
    await runtime.start()
    try:
        async with served(app) as url:
            examples = HTTP_EXAMPLES.get(mutant.name, "40")
            code, report = await run_suite_against(
                url, *IDENTITIES, "--rule", mutant.rule, "--max-examples", examples
            )
    finally:
        await runtime.close()
    assert code == 1, f"mutant {mutant.name} ({mutant.breaks}) passed over HTTP:\n{report}"
    assert rule_status(report, mutant.rule) == "VIOLATED", report
    assert "$ curl " in report
