"""The contract suite can fail, and only the server's faults count: every mutant is caught, in-process
and over HTTP, and the suite's own faults or a user's wrong set-up end the run with exit 2."""

from __future__ import annotations

import re

import pytest

from contract_tests.mutants import MUTANTS, Mutant, build_app
from tests.conftest import KEY_A, KEY_B, TEST_SEED
from tests.contract_runs import (
    CHAT_A,
    CHAT_B,
    IDENTITIES,
    SEED_WITH_CHATS,
    mock_served,
    rule_status,
    run_suite,
    run_suite_against,
    served,
)

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


# Over HTTP each mutant is judged with the fewest examples that caught it in 10 of 10 runs under
# seeds 1-10 (a generation rule draws at least 5 whatever the number), and without shrinking: a rule
# that fails once has caught its mutant, and shrinking a failure over sockets is most of a run.
HTTP_EXAMPLES = {"crash-on-strange-id": "3"}


@pytest.mark.parametrize("mutant", MUTANTS.values(), ids=lambda m: m.name)
async def test_suite_catches_the_mutant_over_http(mutant: Mutant):
    app, runtime = build_app(mutant.name, TEST_SEED)
    await runtime.start()
    try:
        async with served(app) as url:
            examples = HTTP_EXAMPLES.get(mutant.name, "1")
            code, report = await run_suite_against(
                url, *IDENTITIES, "--rule", mutant.rule, "--max-examples", examples, "--no-shrink"
            )
    finally:
        await runtime.close()
    assert code == 1, f"mutant {mutant.name} ({mutant.breaks}) passed over HTTP:\n{report}"
    assert rule_status(report, mutant.rule) == "VIOLATED", report
    assert "$ curl " in report


def test_no_shrink_reports_the_first_failing_example_as_found():
    rule = "test_non_uuid_chat_id_is_400"
    shrunk = run_suite("--mutant", "crash-on-strange-id", "--rule", rule)
    found = run_suite("--mutant", "crash-on-strange-id", "--rule", rule, "--no-shrink")
    for run in (shrunk, found):
        assert run.returncode == 1, run.stdout
        assert rule_status(run.stdout, rule) == "VIOLATED", run.stdout
    assert requests_sent(found.stdout) < requests_sent(shrunk.stdout), found.stdout + shrunk.stdout


def requests_sent(report: str) -> int:
    match = re.search(r"^checked: (\d+) requests", report, re.MULTILINE)
    assert match, report
    return int(match.group(1))
