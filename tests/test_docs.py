"""The README and `docs/` cannot drift from the code: every command they show is run or checked,
every relative link resolves, every seed they show loads.

Commands live in ```sh blocks, one a line (a trailing `\\` continues it), with `#` comments. A comment
after a command, on its line or on the comment lines right below it, that begins with `{`, `[`,
`data:` or `HTTP/` shows what the command prints: each piece of it between `…` must be in the
output, spaces aside. Each step of a line (split at `&&`, `;` and a trailing `&`) is handled by its
kind (`KINDS`); a step of no known kind fails `test_every_docs_command_is_known`, naming its file
and line. docs/architecture.md ("How the docs are tested") says the same for the pages' writers.

Servers run as the pages start them, each on a free loopback port: the documented ports (4010 the
mock, 4011 the proxy, 6379 Redis) are replaced in every command of the block by the real ones.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from bench.cli import build_parser as bench_parser
from contract_tests import options as contract_options
from contract_tests.cli import build_parser as contract_parser
from loopback import HOST, ServerFailed, free_port, redis_server, stop_process, tail, wait_until
from mock_server.domain.seed import SeedError, read_seed_file

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = (README, *sorted((ROOT / "docs").glob("*.md")))
CI_RUN = ROOT / ".ci" / "run"
BIN = Path(sys.executable).parent
"""Where `pytest` and `python` of this run are: a shell command of the docs finds them first."""

RUN_THE_MOCK = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/recoup-mock serve"
RUN_THE_TESTS = 'python3 -m venv .venv && .venv/bin/pip install -e ".[dev]" && .venv/bin/pytest'
"""The README's two commands, exactly: `.ci/run` and its readers rely on them."""

MOCK_PORT, PROXY_PORT, REDIS_PORT = 4010, 4011, 6379
SHOWN = ("{", "[", "data:", "HTTP/")
"""How a comment that shows a command's output begins."""
SERVER_START = 30.0
COMMAND_TIMEOUT = 60.0
LONGEST_SLEEP = 5.0
LOCAL_CONTRACT_RULE = "unknown_chat_is_404"
"""The one rule the suite checks when a page runs it against a local mock (a whole run takes minutes)."""
READERS_OWN = {
    "npm run e2e -- --base-url http://127.0.0.1:4011": "the reader's end-to-end tests, through the proxy",
}
"""Commands of the reader's own project; each is replaced by a stop sent through the block's proxy."""
READER_VALUES = {
    "KEY_OF_ACCOUNT_A": "key-a",
    "KEY_OF_ACCOUNT_B": "key-b",
    "KEY_A": "key-a",
    "KEY_B": "key-b",
    "CHAT_OF_A": "11111111-1111-4111-8111-111111111111",
    "CHAT_OF_B": "33333333-3333-4333-8333-333333333333",
    "STAGING_URL": "https://staging.example.com",
}
"""What the pages leave their reader to fill in, as a reader would: the commands only parsed get these."""


# --- Reading the pages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One command of a page: a step of a line of a ```sh block."""

    page: Path
    line: int
    block: int
    text: str
    shown: tuple[str, ...] = ()
    background: bool = False

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def words(self) -> list[str]:
        return shlex.split(self.text)


@dataclass(frozen=True)
class Fence:
    page: Path
    line: int
    language: str
    lines: tuple[str, ...]

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def fences(page: Path) -> Iterator[Fence]:
    """Every fenced block of a page, with the line its fence opens on."""
    lines = page.read_text(encoding="utf-8").splitlines()
    opened: tuple[int, str] | None = None
    body: list[str] = []
    for number, line in enumerate(lines, 1):
        fence = re.match(r"\s*(`{3,})\s*([\w+-]*)", line)
        if opened is None and fence:
            opened, body = (number, fence.group(2)), []
        elif opened is not None and re.fullmatch(r"\s*`{3,}\s*", line):
            yield Fence(page, opened[0], opened[1], tuple(body))
            opened = None
        elif opened is not None:
            body.append(line)


def split_comment(line: str) -> tuple[str, str | None]:
    """A line's code and its comment (`#` at the start of a word, outside quotes)."""
    quote: str | None = None
    escaped = False
    for index, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip(), line[index + 1 :].strip()
    return line.rstrip(), None


def split_steps(code: str) -> list[tuple[str, bool]]:
    """A line's steps at `&&`, `;` and `&` outside quotes: each with whether it runs in the background."""
    steps: list[tuple[str, bool]] = []
    quote: str | None = None
    escaped = False
    start = index = 0
    while index < len(code):
        char = code[index]
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif code.startswith("&&", index) or char == ";":
            steps.append((code[start:index].strip(), False))
            index += 1 if char == ";" else 2
            start = index
            continue
        elif char == "&":
            steps.append((code[start:index].strip(), True))
            start = index + 1
        index += 1
    steps.append((code[start:].strip(), False))
    return [(text, background) for text, background in steps if text]


def steps_of(fence: Fence, block: int) -> Iterator[Step]:
    """The steps of a ```sh block, each with the output its comments show."""
    lines = list(fence.lines)
    index = 0
    while index < len(lines):
        number = fence.line + 1 + index
        logical = lines[index]
        while logical.endswith("\\") and index + 1 < len(lines):
            index += 1
            logical = logical[:-1] + " " + lines[index].strip()
        index += 1
        code, comment = split_comment(logical)
        if not code.strip():
            continue
        shown = [comment] if comment and comment.startswith(SHOWN) else []
        while index < len(lines) and lines[index].lstrip().startswith("#"):
            below = lines[index].lstrip()[1:].strip()
            if below.startswith(SHOWN):
                shown.append(below)
            index += 1
        steps = split_steps(code)
        for position, (text, background) in enumerate(steps):
            last = position == len(steps) - 1
            yield Step(fence.page, number, block, text, tuple(shown) if last else (), background)


def sh_blocks() -> list[list[Step]]:
    blocks = []
    for page in PAGES:
        for block, fence in enumerate(f for f in fences(page) if f.language == "sh"):
            blocks.append(list(steps_of(fence, block)))
    return blocks


BLOCKS = sh_blocks()
STEPS = [step for block in BLOCKS for step in block]


# --- What each step is ---------------------------------------------------------------------------


def program(words: list[str]) -> list[str]:
    """The words from the program on (assignments before it dropped), `.venv/bin/` left out."""
    while words and re.match(r"[A-Za-z_]\w*=", words[0]):
        words = words[1:]
    if words and words[0].startswith(".venv/bin/"):
        words = [words[0].removeprefix(".venv/bin/"), *words[1:]]
    return words


def kind(step: Step) -> str | None:
    """What the step is (a key of `KINDS`), or None for a command the tests do not know."""
    if step.text in READERS_OWN:
        return "readers-own"
    try:
        words = program(step.words)
    except ValueError:
        return None
    if not words:
        return "assign"
    name, rest = words[0], words[1:]
    if name == "recoup-mock" and rest[:1] in (["serve"], ["proxy"]):
        return rest[0]
    if name == "pytest" and rest and "contract_tests" in rest[0]:
        return "contract-pytest"
    known = {
        "recoup-contract": "contract",
        "bench/run": "bench",
        "curl": "curl",
        "redis-server": "redis",
        "sleep": "sleep",
        "wait": "wait",
        "ruff": "ci-check",
        "mypy": "ci-check",
        "pytest": "ci-check",
        "pip": "install",
    }
    if name in known:
        return known[name]
    if name in ("python", "python3") and rest[:2] == ["-m", "bench"]:
        return "bench"
    if name == "python3" and rest[:2] == ["-m", "venv"]:
        return "install"
    if name == "npm" and rest[:1] == ["install"]:
        return "install"
    if name == "kill" and rest[:1] == ["-TERM"] and len(rest) == 2 and rest[1].startswith("%"):
        return "kill"
    return None


KINDS = {
    "serve": "started on a free port; it must answer",
    "proxy": "started in front of a local mock; stopped with SIGTERM, its report and recording written",
    "curl": "run against the block's mock or proxy; exit status 0 and the output shown",
    "redis": "a redis-server on a free port, with the command's flags",
    "assign": "shell variables for the block's later commands",
    "sleep": "slept (at most LONGEST_SLEEP)",
    "wait": "waits for the block's background commands",
    "kill": "stops a background server of the block, which must exit with 0",
    "readers-own": "replaced by a stop sent through the block's proxy",
    "contract": "parsed with recoup-contract's parser; the one against a local mock runs one rule",
    "contract-pytest": "the suite collected with those options",
    "bench": "parsed with bench's parser",
    "install": "not run: one of the README's two commands, or in .ci/run",
    "ci-check": "not run: in .ci/run",
}


def steps_of_kind(*kinds: str) -> list[Step]:
    return [step for step in STEPS if kind(step) in kinds]


def blocks_led_by(lead: str) -> list[list[Step]]:
    """The blocks a test runs: those with a proxy, else with a curl, else with a serve command."""
    order = ("proxy", "curl", "serve")
    chosen = []
    for block in BLOCKS:
        kinds = {kind(step) for step in block}
        if next((k for k in order if k in kinds), None) == lead:
            chosen.append(block)
    return chosen


def block_id(block: list[Step]) -> str:
    return block[0].where


def test_every_docs_command_is_known():
    unknown = [f"{step.where}: {step.text}" for step in STEPS if kind(step) is None]
    assert not unknown, (
        "commands tests/test_docs.py does not know how to run or check; teach it (KINDS) or change "
        "the page:\n" + "\n".join(unknown)
    )
    assert {kind(step) for step in STEPS} <= set(KINDS)


def test_shell_commands_are_only_in_sh_blocks():
    others = [
        f"{fence.where}: ```{fence.language}"
        for page in PAGES
        for fence in fences(page)
        if fence.language in ("console", "bash", "shell", "zsh", "shell-session", "")
    ]
    assert not others, "write commands in ```sh blocks (and other text in a named fence):\n" + "\n".join(
        others
    )


def test_readme_holds_the_two_commands_exactly():
    lines = [line for fence in fences(README) if fence.language == "sh" for line in fence.lines]
    assert RUN_THE_MOCK in lines
    assert RUN_THE_TESTS in lines


def test_readme_is_a_two_minute_page():
    assert len(README.read_text(encoding="utf-8").splitlines()) < 150


def test_every_page_says_who_it_is_for():
    for page in PAGES[1:]:
        lines = [line for line in page.read_text(encoding="utf-8").splitlines() if line.strip()]
        assert lines[0].startswith("# "), page
        assert lines[1].startswith("For "), f"{page.name}: the line after the title says who it is for"


# --- Install commands, CI's checks, the parsers --------------------------------------------------


def ci_lines() -> list[str]:
    lines = [line.strip() for line in CI_RUN.read_text(encoding="utf-8").splitlines()]
    return [line.replace("$SUDO ", "") for line in lines if line and not line.startswith("#")]


def readme_steps() -> set[str]:
    return {text for command in (RUN_THE_MOCK, RUN_THE_TESTS) for text, _ in split_steps(command)}


def test_install_commands_are_the_readmes_or_cis():
    ci = ci_lines()
    for step in steps_of_kind("install"):
        assert step.text in readme_steps() or any(step.text in line for line in ci), (
            f"{step.where}: {step.text!r} is neither a step of the README's two commands nor in .ci/run"
        )
    for step in steps_of_kind("ci-check"):
        assert step.text in ci, f"{step.where}: {step.text!r} is not a command of .ci/run"


def test_ci_installs_and_tests_as_the_readme_says():
    ci = ci_lines()
    assert any(line.startswith("python3 -m venv .venv && .venv/bin/pip install") for line in ci)
    assert ".venv/bin/pytest" in ci


def filled_in(step: Step) -> list[str]:
    """The step's words from the program on, each shell variable given its `READER_VALUES` value."""

    def value(found: re.Match[str]) -> str:
        name = found.group(1) or found.group(2)
        assert name in READER_VALUES, f"{step.where}: ${name}: give READER_VALUES a value for it"
        return READER_VALUES[name]

    return [re.sub(r"\$\{(\w+)\}|\$(\w+)", value, word) for word in program(step.words)]


def parse(parser: argparse.ArgumentParser, arguments: list[str], where: str) -> None:
    """Parse as the command would; an unknown flag or a bad value fails, naming the page's line."""
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
        words = filled_in(step)
        arguments = words[1:] if words[0] == "bench/run" else words[3:]
        parse(bench_parser(), arguments, step.where)


def test_contract_commands_parse_with_the_suites_own_parser():
    steps = steps_of_kind("contract")
    assert steps
    for step in steps:
        parse(contract_parser(), filled_in(step)[1:], step.where)


def test_ci_workflow_runs_known_commands():
    """The workflow of docs/contract-suite.md installs an extra that exists and runs the suite with
    flags and variables it reads."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    help_text = contract_parser().format_help()
    workflows = [
        yaml.safe_load("\n".join(fence.lines))
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


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    inside = {line for fence in fences(page) for line in range(fence.line, fence.line + len(fence.lines) + 2)}
    lines = page.read_text(encoding="utf-8").splitlines()
    return {
        slug(heading.group(1))
        for number, line in enumerate(lines, 1)
        if number not in inside and (heading := re.match(r"#{1,6}\s+(.+)", line))
    }


def links(page: Path) -> Iterator[tuple[int, str]]:
    inside = {line for fence in fences(page) for line in range(fence.line, fence.line + len(fence.lines) + 2)}
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if number not in inside:
            for found in re.finditer(r"\]\(([^)\s]+)\)", re.sub(r"`[^`]*`", "", line)):
                yield number, found.group(1)


def test_links_resolve():
    broken = []
    for page in PAGES:
        for number, target in links(page):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            where = f"{page.relative_to(ROOT)}:{number}: {target}"
            if not resolved.exists():
                broken.append(f"{where} (no such file)")
            elif anchor and (resolved.suffix != ".md" or anchor not in anchors(resolved)):
                broken.append(f"{where} (no such heading)")
    assert not broken, "\n".join(broken)


def test_every_page_is_linked_from_the_readme():
    linked = {(README.parent / target.partition("#")[0]).resolve() for _, target in links(README)}
    assert set(PAGES[1:]) <= linked


SEED_PAGES = (ROOT / "docs" / "seeds.md", ROOT / "docs" / "frontend.md")


def seed_examples(page: Path) -> list[Fence]:
    return [fence for fence in fences(page) if fence.language == "yaml"]


@pytest.mark.parametrize("page", SEED_PAGES, ids=lambda page: page.name)
def test_seed_examples_are_seeds_the_mock_loads(page: Path, tmp_path: Path):
    examples = seed_examples(page)
    assert examples
    for fence in examples:
        file = tmp_path / "seed.yaml"
        file.write_text("\n".join(fence.lines) + "\n")
        try:
            read_seed_file(file)
        except SeedError as refused:
            pytest.fail(f"{fence.where}: {refused}")


# --- Running the blocks --------------------------------------------------------------------------


def pieces(shown: str) -> list[str]:
    """What of a shown line must be in the output: its pieces between `…`, spaces aside, without
    the remark in parentheses after two spaces."""
    text = re.split(r"\s{2,}\(", shown)[0]
    return [piece for piece in (re.sub(r"\s", "", p) for p in text.split("…")) if len(piece) >= 4]


def assert_shown(step: Step, output: str) -> None:
    flat = re.sub(r"\s", "", output)
    for line in step.shown:
        for piece in pieces(line):
            assert piece in flat, f"{step.where}: {piece!r} of {line!r} is not in what it printed:\n{output}"


@dataclass
class Server:
    step: Step
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    files: tuple[Path, ...] = ()
    """What it writes at shutdown (`--report`, `--record`)."""

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        """SIGTERM, as Ctrl-C's sibling the pages name: it must exit with 0 and write its files."""
        stop_process(self.process, group=True)
        assert self.process.returncode == 0, (
            f"{self.step.where}: exited with {self.process.returncode}:\n{tail(self.log)}"
        )
        for file in self.files:
            assert file.exists(), f"{self.step.where}: {file.name} was not written at shutdown"


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except (OSError, urllib.error.HTTPError):
        return False


@dataclass
class Job:
    step: Step
    process: subprocess.Popen[str] | None = None
    server: Server | None = None


@dataclass
class Session:
    """One block as a shell would run it, with the documented ports replaced by real ones."""

    directory: Path
    mock: str
    """The mock started with default flags that `127.0.0.1:4010` means unless the block starts one."""
    redis: Callable[[tuple[str, ...]], int]
    """Starts (once) the block's `redis-server` with these flags and gives its port."""
    assignments: list[str] = field(default_factory=list)
    servers: list[Server] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    redis_port: int | None = None

    def running(self, command: str) -> list[Server]:
        return [s for s in self.servers if s.process.poll() is None and program(s.step.words)[1] == command]

    @property
    def mock_url(self) -> str:
        serving = [
            s for s in self.servers if s.process.poll() is None and program(s.step.words)[1] == "serve"
        ]
        return serving[-1].url if serving else self.mock

    @property
    def proxy_url(self) -> str:
        proxies = [
            s for s in self.servers if s.process.poll() is None and program(s.step.words)[1] == "proxy"
        ]
        assert proxies, "127.0.0.1:4011 is named before a proxy was started in the block"
        return proxies[-1].url

    def substitute(self, text: str) -> str:
        for name in ("127.0.0.1", "localhost"):
            text = text.replace(f"http://{name}:{MOCK_PORT}", self.mock_url)
            if f"{name}:{PROXY_PORT}" in text:
                text = text.replace(f"http://{name}:{PROXY_PORT}", self.proxy_url)
            if f"{name}:{REDIS_PORT}" in text:
                text = text.replace(f"{name}:{REDIS_PORT}", f"{HOST}:{self.redis(())}")
        return text

    def shell(self, step: Step) -> list[str]:
        script = "\n".join([*self.assignments, step.text])
        return ["bash", "-c", self.substitute(script)]

    def run(self, step: Step) -> None:
        handlers: dict[str, Callable[[Step], None]] = {
            "assign": lambda step: self.assignments.append(step.text),
            "serve": self.start,
            "proxy": self.start,
            "curl": self.curl,
            "redis": self.start_redis,
            "sleep": lambda step: time.sleep(min(float(step.words[1]), LONGEST_SLEEP)),
            "wait": self.wait,
            "kill": self.kill,
            "readers-own": self.readers_own,
        }
        handler = handlers.get(kind(step) or "")
        if handler is not None:
            handler(step)

    def start_redis(self, step: Step) -> None:
        self.redis(tuple(redis_flags(step.words[1:])))

    def start(self, step: Step) -> None:
        """Starts a server as the step says, once every foreground server started before it ended
        (a reader presses Ctrl-C before typing the next server's command)."""
        for server in self.servers:
            if not any(job.server is server for job in self.jobs) and server.process.poll() is None:
                server.stop()
        words = program(step.words)
        arguments, files = server_arguments(words, self.mock_url, self.directory)
        for argument in arguments:
            assert "$" not in argument, f"{step.where}: a server's flags are given without shell variables"
        arguments = [self.substitute(argument) for argument in arguments]
        seed = value_of(arguments, "--seed")
        if seed is not None and not (self.directory / seed).exists():
            examples = seed_examples(step.page)
            assert examples, (
                f"{step.where}: --seed {seed}: no earlier command writes it, and no YAML on the page"
            )
            (self.directory / seed).write_text("\n".join(examples[0].lines) + "\n")
        port = free_port()
        log = self.directory / f"server-{len(self.servers)}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "mock_server.cli", *arguments, "--port", str(port)],
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Server(step, process, port, log, files)
        self.servers.append(server)
        ready = "/openapi.json" if words[1] == "serve" else "/__mock/violations"
        try:
            wait_until(
                lambda: answers(server.url + ready),
                process,
                within=SERVER_START,
                what=f"{step.where}: {step.text}",
                output=lambda: tail(log),
            )
        except ServerFailed as failed:
            pytest.fail(str(failed))
        if step.background:
            self.jobs.append(Job(step, server=server))

    def curl(self, step: Step) -> None:
        if step.background:
            process = subprocess.Popen(
                self.shell(step),
                cwd=self.directory,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=shell_environment(),
            )
            self.jobs.append(Job(step, process=process))
            return
        done = subprocess.run(
            self.shell(step),
            cwd=self.directory,
            capture_output=True,
            text=True,
            env=shell_environment(),
            timeout=COMMAND_TIMEOUT,
        )
        assert done.returncode == 0, f"{step.where}: exit status {done.returncode}\n{done.stderr}"
        assert_shown(step, done.stdout)

    def finish(self, job: Job) -> None:
        if job.process is not None and job.process.returncode is None:
            output, _ = job.process.communicate(timeout=COMMAND_TIMEOUT)
            assert job.process.returncode == 0, f"{job.step.where}: exit status {job.process.returncode}"
            assert_shown(job.step, output)

    def wait(self, step: Step) -> None:
        numbers = [int(word.lstrip("%")) for word in step.words[1:]]
        for number, job in enumerate(self.jobs, 1):
            if not numbers or number in numbers:
                self.finish(job)

    def kill(self, step: Step) -> None:
        job = self.jobs[int(step.words[2].lstrip("%")) - 1]
        assert job.server is not None, f"{step.where}: %N names a background server of the block"
        job.server.stop()

    def readers_own(self, step: Step) -> None:
        request = urllib.request.Request(
            f"{self.proxy_url}/api/chat/11111111-1111-4111-8111-111111111111/stop",
            method="POST",
            headers={"x-api-key": "demo-key-a"},
        )
        with urllib.request.urlopen(request, timeout=COMMAND_TIMEOUT) as answer:
            assert answer.status == 200, f"{step.where}: {READERS_OWN[step.text]}"

    def close(self) -> None:
        for job in self.jobs:
            self.finish(job)
        for server in self.servers:
            if server.process.poll() is None:
                server.stop()


def shell_environment() -> dict[str, str]:
    """This run's environment, with this run's `python` and `pytest` first on the PATH."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def value_of(arguments: list[str], flag: str) -> str | None:
    for index, argument in enumerate(arguments[:-1]):
        if argument == flag:
            return arguments[index + 1]
    return None


def server_arguments(words: list[str], upstream: str, directory: Path) -> tuple[list[str], tuple[Path, ...]]:
    """`serve`/`proxy` and its flags as the page gives them, `--port` left out (the test picks
    one), a proxy's `--upstream` a local mock; and the files it writes at shutdown."""
    arguments = [words[1]]
    rest = iter(words[2:])
    files = []
    for word in rest:
        if word == "--port":
            next(rest)
            continue
        arguments.append(word)
        if word == "--upstream":
            next(rest)
            arguments.append(upstream)
        elif word in ("--report", "--record") and words[1] == "proxy":
            name = next(rest)
            arguments.append(name)
            files.append(directory / name)
    return arguments, tuple(files)


def redis_flags(words: list[str]) -> Iterator[str]:
    """A `redis-server` command's flags, but where it listens and whether it leaves the shell."""
    rest = iter(words)
    for word in rest:
        if word in ("--port", "--daemonize", "--bind"):
            next(rest)
        else:
            yield word


@pytest.fixture(scope="module")
def mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`recoup-mock serve` with default flags: what `127.0.0.1:4010` is in a block that starts none."""
    directory = tmp_path_factory.mktemp("mock")
    port = free_port()
    log = directory / "mock.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "mock_server.cli", "serve", "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://{HOST}:{port}"
    try:
        wait_until(lambda: answers(url + "/openapi.json"), process, within=SERVER_START, what=url)
        yield url
    finally:
        stop_process(process)


def reset(mock: str) -> None:
    """Back to the demo data, every answer stopped and the journal empty, before each block."""
    with urllib.request.urlopen(urllib.request.Request(f"{mock}/__mock/reset", method="POST"), timeout=10):
        pass


def run_block(block: list[Step], mock: str, directory: Path) -> None:
    """The block's steps in order, in a directory that has the project's `openapi/` as the project's
    top directory has (the pages' commands run there)."""
    reset(mock)
    (directory / "openapi").symlink_to(ROOT / "openapi")
    with contextlib.ExitStack() as stack:

        def redis(flags: tuple[str, ...]) -> int:
            if session.redis_port is None:
                executable = shutil.which("redis-server")
                if executable is None:
                    if os.environ.get("RECOUP_MOCK_REQUIRE_REDIS") == "1":
                        pytest.fail("redis-server is not installed, and RECOUP_MOCK_REQUIRE_REDIS=1")
                    pytest.skip("redis-server is not installed (RECOUP_MOCK_REQUIRE_REDIS=1 fails instead)")
                redis_directory = directory / "redis"
                redis_directory.mkdir()
                session.redis_port = stack.enter_context(
                    redis_server(executable, redis_directory, flags)
                ).port
            return session.redis_port

        session = Session(directory, mock, redis)
        stack.callback(session.close)
        for step in block:
            session.run(step)


@pytest.mark.parametrize("block", blocks_led_by("serve"), ids=block_id)
def test_serve_commands_start_a_server_that_answers(block: list[Step], mock: str, tmp_path: Path):
    run_block(block, mock, tmp_path)


@pytest.mark.parametrize("block", blocks_led_by("curl"), ids=block_id)
def test_curl_commands_succeed_against_the_mock(block: list[Step], mock: str, tmp_path: Path):
    run_block(block, mock, tmp_path)


@pytest.mark.parametrize("block", blocks_led_by("proxy"), ids=block_id)
def test_proxy_commands_start_in_front_of_a_mock(block: list[Step], mock: str, tmp_path: Path):
    run_block(block, mock, tmp_path)


def test_every_server_and_curl_command_is_in_a_block_that_runs():
    running = {step for lead in ("serve", "curl", "proxy") for block in blocks_led_by(lead) for step in block}
    for step in steps_of_kind("serve", "proxy", "curl", "redis", "kill", "readers-own"):
        assert step in running, step.where


# --- The contract suite, run as the pages run it -------------------------------------------------


def local_contract_steps() -> list[Step]:
    """The suite pointed at a local mock with literal keys: the one the pages let the test run."""
    return [
        step
        for step in steps_of_kind("contract")
        if f"http://127.0.0.1:{MOCK_PORT}" in step.text and "$" not in step.text
    ]


def test_the_suite_holds_against_a_local_mock_as_the_page_runs_it(mock: str, tmp_path: Path):
    steps = local_contract_steps()
    assert steps, "a page shows the suite run against a running mock"
    step = steps[0]
    arguments = program(shlex.split(step.text.replace(f"http://127.0.0.1:{MOCK_PORT}", mock)))[1:]
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
    assert done.returncode == 0, f"{step.where}:\n{done.stdout}\n{done.stderr}"
    assert "The contract holds." in done.stdout


def test_the_suite_as_a_pytest_package_takes_the_options_the_page_gives():
    """The folder the page computes holds the suite's `conftest.py`, and every option after it is
    one that conftest declares (as `contract_tests.options` builds them for pytest)."""
    parser = argparse.ArgumentParser(prog="pytest")
    for option in contract_options.OPTIONS:
        option.add_to(parser.add_argument, option.pytest_flag, option.pytest_dest)
    steps = steps_of_kind("contract-pytest")
    assert steps
    for step in steps:
        folder, *arguments = program(step.words)[1:]
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
