"""The README and `docs/` cannot drift from the code: every command they show is run or checked,
every relative link resolves, every seed they show loads.

How a page is read (```sh blocks, the output a comment shows, the kinds of command) is
`tests/docs_pages.py`; how a block runs, as a reader's shell would, is `tests/docs_shell.py`;
docs/architecture.md ("How the docs are tested") says the same for the pages' writers. A command
of no known kind fails `test_every_docs_command_is_known`, naming its file and line.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bench.cli import build_parser as bench_parser
from contract_tests import options as contract_options
from contract_tests.cli import build_parser as contract_parser
from mock_server.domain.seed import SeedError, read_seed_file
from tests.docs_pages import (
    KINDS,
    PAGES,
    README,
    ROOT,
    Step,
    anchors,
    fences,
    links,
    sh_blocks,
    split_steps,
)
from tests.docs_shell import (
    COMMAND_TIMEOUT,
    MOCK_PORT,
    Stopping,
    reset,
    run_block,
    shell_environment,
    start_mock,
)

RUN_THE_MOCK = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/recoup-mock serve"
RUN_THE_TESTS = 'python3 -m venv .venv && .venv/bin/pip install -e ".[dev]" && .venv/bin/pytest'
"""The README's two commands, exactly: `.ci/run` and its readers rely on them."""
CI_RUN = ROOT / ".ci" / "run"
SEED_PAGES = (ROOT / "docs" / "seeds.md", ROOT / "docs" / "frontend.md")
"""The pages whose YAML blocks are seed files."""
LOCAL_CONTRACT_RULE = "unknown_chat_is_404"
"""The one rule the suite checks where a page runs it against a local mock (a whole run takes minutes)."""

BLOCKS = sh_blocks()
STEPS = [step for block in BLOCKS for step in block]


def steps_of_kind(*kinds: str) -> list[Step]:
    return [step for step in STEPS if step.kind in kinds]


def blocks_led_by(lead: str) -> list[list[Step]]:
    """The blocks one test runs: those with a proxy, else those with a curl, else with a serve."""
    order = ("proxy", "curl", "serve")
    chosen = []
    for block in BLOCKS:
        kinds = {step.kind for step in block}
        if next((k for k in order if k in kinds), None) == lead:
            chosen.append(block)
    return chosen


def where(block: list[Step]) -> str:
    return block[0].where


@pytest.fixture(scope="module")
def stopping() -> Iterator[Stopping]:
    """The servers the blocks started, stopping while the next blocks run; each must exit with 0."""
    stopping = Stopping()
    yield stopping
    stopping.check()


@pytest.fixture(scope="module")
def mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`recoup-mock serve` with default flags: `127.0.0.1:4010` in a block that starts no mock."""
    with start_mock(tmp_path_factory.mktemp("mock")) as url:
        yield url


# --- Every command is known, and the README keeps its two ----------------------------------------


def test_every_docs_command_is_known():
    unknown = [f"{step.where}: {step.text}" for step in STEPS if step.kind is None]
    assert not unknown, (
        "commands tests/test_docs.py does not know how to run or check; teach it "
        "(tests/docs_pages.py KINDS) or change the page:\n" + "\n".join(unknown)
    )
    assert {step.kind for step in STEPS} <= set(KINDS)


def test_shell_commands_are_only_in_sh_blocks():
    others = [
        f"{fence.where}: ```{fence.language}"
        for page in PAGES
        for fence in fences(page)
        if fence.language in ("console", "bash", "shell", "zsh", "shell-session", "")
    ]
    assert not others, "commands go in ```sh blocks, other text in a named fence:\n" + "\n".join(others)


def test_readme_holds_the_two_commands_exactly():
    lines = [line for fence in fences(README) if fence.language == "sh" for line in fence.lines]
    assert RUN_THE_MOCK in lines
    assert RUN_THE_TESTS in lines


def test_readme_is_a_two_minute_page_and_links_every_other():
    assert len(README.read_text(encoding="utf-8").splitlines()) < 150
    linked = {(README.parent / target.partition("#")[0]).resolve() for _, target in links(README)}
    assert set(PAGES[1:]) <= linked


def test_every_page_says_who_it_is_for():
    for page in PAGES[1:]:
        lines = [line for line in page.read_text(encoding="utf-8").splitlines() if line.strip()]
        assert lines[0].startswith("# "), page
        assert lines[1].startswith("For "), f"{page.name}: the line after the title says who it is for"


# --- Commands checked without running them -------------------------------------------------------


def ci_lines() -> list[str]:
    lines = [line.strip() for line in CI_RUN.read_text(encoding="utf-8").splitlines()]
    return [line.replace("$SUDO ", "") for line in lines if line and not line.startswith("#")]


def test_install_commands_are_the_readmes_or_cis():
    ci = ci_lines()
    readme = {text for command in (RUN_THE_MOCK, RUN_THE_TESTS) for text, _ in split_steps(command)}
    for step in steps_of_kind("install"):
        assert step.text in readme or any(step.text in line for line in ci), (
            f"{step.where}: {step.text!r} is neither a step of the README's two commands nor in .ci/run"
        )
    for step in steps_of_kind("ci-check"):
        assert step.text in ci, f"{step.where}: {step.text!r} is not a command of .ci/run"


def test_ci_installs_and_tests_as_the_readme_does():
    ci = ci_lines()
    assert any(line.startswith("python3 -m venv .venv && .venv/bin/pip install") for line in ci)
    assert ".venv/bin/pytest" in ci


def parse(parser: argparse.ArgumentParser, arguments: list[str], where: str) -> None:
    """Parse as the command would: an unknown flag or a bad value fails, naming the page's line."""
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            parser.parse_args(arguments)
    except SystemExit as exit:
        assert exit.code == 0, f"{where}: {shlex.join(arguments)}\n{output.getvalue()}"


def test_bench_commands_parse_with_benchs_own_parser():
    steps = steps_of_kind("bench")
    assert steps
    for step in steps:
        words = step.filled_in()
        parse(bench_parser(), words[1:] if words[0] == "bench/run" else words[3:], step.where)


def test_contract_commands_parse_with_the_suites_own_parser():
    steps = steps_of_kind("contract")
    assert steps
    for step in steps:
        parse(contract_parser(), step.filled_in()[1:], step.where)


def test_the_suite_as_a_pytest_package_takes_the_options_the_page_gives():
    """The folder the page computes holds the suite's `conftest.py`, and every option after it is
    one that conftest declares (as `contract_tests.options` builds them for pytest)."""
    parser = argparse.ArgumentParser(prog="pytest")
    for option in contract_options.OPTIONS:
        option.add_to(parser.add_argument, option.pytest_flag, option.pytest_dest)
    steps = steps_of_kind("contract-pytest")
    assert steps
    for step in steps:
        folder, *arguments = step.program[1:]
        command = re.fullmatch(r"\$\((.+)\)", folder)
        assert command, f"{step.where}: the suite's folder is computed with $(python -c ...)"
        done = subprocess.run(
            ["bash", "-c", command.group(1)],
            capture_output=True,
            text=True,
            env=shell_environment(),
            timeout=COMMAND_TIMEOUT,
        )
        assert done.returncode == 0, f"{step.where}:\n{done.stderr}"
        assert (Path(done.stdout.strip()) / "conftest.py").exists(), f"{step.where}: {done.stdout}"
        parse(parser, arguments, step.where)


def test_ci_workflow_installs_an_extra_that_exists_and_runs_the_suite_as_it_reads():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    help_text = contract_parser().format_help()
    workflows = [
        yaml.safe_load(fence.text)
        for page in PAGES
        for fence in fences(page)
        if fence.language == "yaml" and "jobs:" in fence.lines
    ]
    assert workflows
    for workflow in workflows:
        for job in workflow["jobs"].values():
            for step in job["steps"]:
                if "run" not in step:
                    continue
                words = shlex.split(step["run"])
                if words[:2] == ["pip", "install"]:
                    extra = re.fullmatch(r"recoup-mock\[(\w+)\]( @ .+)?", words[2])
                    assert extra and extra.group(1) in extras, step["run"]
                else:
                    assert words[0] == "recoup-contract", f"a workflow step the tests do not know: {step}"
                    parse(contract_parser(), words[1:], "the CI workflow")
                for variable in step.get("env", {}):
                    assert variable in help_text, f"recoup-contract reads no {variable}"


# --- Links and seeds -----------------------------------------------------------------------------


def test_links_resolve():
    broken = []
    for page in PAGES:
        for number, target in links(page):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            at = f"{page.relative_to(ROOT)}:{number}: {target}"
            if not resolved.exists():
                broken.append(f"{at} (no such file)")
            elif anchor and (resolved.suffix != ".md" or anchor not in anchors(resolved)):
                broken.append(f"{at} (no such heading)")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("page", SEED_PAGES, ids=lambda page: page.name)
def test_seed_examples_are_seeds_the_mock_loads(page: Path, tmp_path: Path):
    examples = [fence for fence in fences(page) if fence.language == "yaml"]
    assert examples
    for fence in examples:
        file = tmp_path / "seed.yaml"
        file.write_text(fence.text)
        try:
            read_seed_file(file)
        except SeedError as refused:
            pytest.fail(f"{fence.where}: {refused}")


# --- Commands run --------------------------------------------------------------------------------


@pytest.mark.parametrize("block", blocks_led_by("serve"), ids=where)
def test_serve_commands_start_a_server_that_answers(
    block: list[Step], mock: str, stopping: Stopping, tmp_path: Path
):
    run_block(block, mock, tmp_path, stopping)


@pytest.mark.parametrize("block", blocks_led_by("curl"), ids=where)
def test_curl_commands_succeed_against_the_mock(
    block: list[Step], mock: str, stopping: Stopping, tmp_path: Path
):
    run_block(block, mock, tmp_path, stopping)


@pytest.mark.parametrize("block", blocks_led_by("proxy"), ids=where)
def test_proxy_commands_start_in_front_of_a_mock(
    block: list[Step], mock: str, stopping: Stopping, tmp_path: Path
):
    run_block(block, mock, tmp_path, stopping)


def test_every_command_that_starts_or_talks_to_a_server_is_run():
    run = {step for lead in ("serve", "curl", "proxy") for block in blocks_led_by(lead) for step in block}
    for step in steps_of_kind("serve", "proxy", "curl", "redis", "kill", "readers-own"):
        assert step in run, step.where


def test_the_suite_holds_against_a_local_mock_as_the_page_runs_it(mock: str, tmp_path: Path):
    """The one real run: the first command that points the suite at a local mock with literal
    keys, for one rule."""
    local = f"http://127.0.0.1:{MOCK_PORT}"
    steps = [step for step in steps_of_kind("contract") if local in step.text and "$" not in step.text]
    assert steps, "a page shows the suite run against a running mock"
    arguments = [word.replace(local, mock) for word in steps[0].program[1:]]
    if "--rule" not in arguments:
        arguments += ["--rule", LOCAL_CONTRACT_RULE]
    reset(mock)
    done = subprocess.run(
        [sys.executable, "-m", "contract_tests.cli", *arguments],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT * 2,
    )
    assert done.returncode == 0, f"{steps[0].where}:\n{done.stdout}\n{done.stderr}"
    assert "The contract holds." in done.stdout
