"""The contract suite judges: it passes on the mock (in-process and over HTTP) and fails every mutant."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from contract_tests.mutants import MUTANTS, Mutant
from tests.conftest import KEY_A, KEY_B

SUITE_TIMEOUT = 300


def run_suite(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "contract_tests.cli", *args],
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT,
        check=False,
    )


def rule_status(report: str, rule: str) -> str | None:
    match = re.search(rf"^  (HOLDS|VIOLATED|NOT CHECKED)\s+{rule}$", report, re.MULTILINE)
    return match.group(1) if match else None


def test_contract_holds_for_the_mock_in_process(tmp_path):
    junit = tmp_path / "contract.xml"
    result = run_suite("--junit-xml", str(junit))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "The contract holds." in result.stdout
    assert rule_status(result.stdout, "test_concurrent_stops_exactly_one_is_true") == "HOLDS"
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert int(suite.get("failures", "-1")) == 0
    assert int(suite.get("tests", "0")) >= 13


async def test_contract_holds_over_http(live_url: str):
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "contract_tests.cli",
        "--base-url",
        live_url,
        "--api-key",
        KEY_A,
        "--other-api-key",
        KEY_B,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), SUITE_TIMEOUT)
    report = output.decode()
    assert process.returncode == 0, report
    assert f"Recoup stop contract: {live_url}" in report
    assert "The contract holds." in report


def test_no_generation_reports_what_it_did_not_check():
    result = run_suite("--no-generation", "--max-examples", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    for rule in ("test_stopped_stream_ends", "test_concurrent_stops_exactly_one_is_true"):
        assert rule_status(result.stdout, rule) == "NOT CHECKED"
    assert "--no-generation" in result.stdout
    assert rule_status(result.stdout, "test_foreign_chat_is_403") == "HOLDS"


def test_a_remote_target_needs_both_keys():
    result = run_suite("--base-url", "http://127.0.0.1:9", "--api-key", "only-one")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--other-api-key" in result.stderr


@pytest.mark.parametrize("mutant", MUTANTS.values(), ids=lambda m: m.name)
def test_suite_catches_the_mutant(mutant: Mutant):
    result = run_suite("--mutant", mutant.name)
    assert result.returncode == 1, f"mutant {mutant.name} ({mutant.breaks}) passed:\n{result.stdout}"
    assert rule_status(result.stdout, mutant.rule) == "VIOLATED", result.stdout
    assert "$ curl " in result.stdout, "a violation shows the request that broke the rule"
