"""A ```sh block of the docs run as a reader's shell would run it, for `tests/test_docs.py`.

Servers run as the page starts them, each on a free loopback port, from a directory that has the
project's `openapi/` (the pages' commands run from the project's top directory). The documented
addresses (`127.0.0.1:4010` the mock, `:4011` the proxy, `:6379` Redis) are replaced in every
command by the real ones: 4010 is the block's own `recoup-mock serve` once it started one, before
that a mock with default flags the test keeps for all blocks.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from loopback import HOST, ServerFailed, free_port, redis_server, stop_process, tail, wait_until
from tests.docs_pages import READERS_OWN, ROOT, Step, fences, pieces

BIN = Path(sys.executable).parent
"""Where this run's `python` and `pytest` are: a shell command of the docs finds them first."""
MOCK_PORT, PROXY_PORT, REDIS_PORT = 4010, 4011, 6379
SERVER_START = 30.0
COMMAND_TIMEOUT = 60.0
LONGEST_SLEEP = 5.0
DEMO_KEY, DEMO_IDLE_CHAT = "demo-key-a", "11111111-1111-4111-8111-111111111111"


def shell_environment() -> dict[str, str]:
    """This run's environment, with this run's `python` and `pytest` first on the PATH."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def answers(url: str) -> bool:
    """True once `GET url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except (OSError, urllib.error.HTTPError):
        return False


def post(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, method="POST", headers=headers or {})
    with urllib.request.urlopen(request, timeout=COMMAND_TIMEOUT) as answer:
        return int(answer.status)


def assert_shown(step: Step, output: str) -> None:
    """Every piece of every line the step's comments show is in what it printed."""
    flat = "".join(output.split())
    for line in step.shown:
        for piece in pieces(line):
            assert piece in flat, f"{step.where}: {piece!r} of {line!r} is not in what it printed:\n{output}"


@dataclass
class Server:
    """`recoup-mock serve` or `proxy` started by a step, in a process group of its own."""

    step: Step
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    files: tuple[Path, ...] = ()
    """What it writes at shutdown (`--report`, `--record`)."""

    @property
    def command(self) -> str:
        return self.step.program[1]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM, as a reader's Ctrl-C or `kill -TERM`: it must exit with 0, its files written."""
        stop_process(self.process, group=True)
        assert self.process.returncode == 0, (
            f"{self.step.where}: exited with {self.process.returncode}:\n{tail(self.log)}"
        )
        for file in self.files:
            assert file.exists(), f"{self.step.where}: {file.name} was not written at shutdown"


class Stopping:
    """Servers stopping while the next tests run (each takes up to its shutdown timeout); `check`
    waits for them all and fails with what went wrong."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.failures: list[str] = []

    def stop(self, server: Server) -> None:
        def stop() -> None:
            try:
                server.stop()
            except AssertionError as failed:
                self.failures.append(str(failed))

        thread = threading.Thread(target=stop, name=f"stopping {server.step.where}")
        thread.start()
        self.threads.append(thread)

    def check(self) -> None:
        for thread in self.threads:
            thread.join()
        assert not self.failures, "\n".join(self.failures)


def start_mock(directory: Path) -> contextlib.AbstractContextManager[str]:
    """`recoup-mock serve` with default flags on a free port, its URL, until the block ends."""

    @contextlib.contextmanager
    def serving() -> Iterator[str]:
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
            wait_until(
                lambda: answers(url + "/openapi.json"),
                process,
                within=SERVER_START,
                what=url,
                output=lambda: tail(log),
            )
            yield url
        finally:
            stop_process(process)

    return serving()


def reset(mock: str) -> None:
    """Back to the demo data, every answer stopped and the journal empty."""
    post(f"{mock}/__mock/reset")


@dataclass
class Job:
    """A step run in the background (`&`): a command, or a server."""

    step: Step
    process: subprocess.Popen[str] | None = None
    server: Server | None = None


@dataclass
class Session:
    """One block, step by step, as a shell runs it."""

    directory: Path
    mock: str
    """The mock `127.0.0.1:4010` is until the block starts one."""
    stopping: Stopping
    redis: Callable[[tuple[str, ...]], int]
    """Starts the block's `redis-server` (once) with these flags; its port."""
    assignments: list[str] = field(default_factory=list)
    servers: list[Server] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    mock_reset: bool = False

    def running(self, command: str) -> list[Server]:
        return [server for server in self.servers if server.running and server.command == command]

    @property
    def mock_url(self) -> str:
        """The block's own mock, or the shared one, reset (once a block) before its first use."""
        serving = self.running("serve")
        if serving:
            return serving[-1].url
        if not self.mock_reset:
            reset(self.mock)
            self.mock_reset = True
        return self.mock

    @property
    def proxy_url(self) -> str:
        proxies = self.running("proxy")
        assert proxies, f"127.0.0.1:{PROXY_PORT} is named before the block started a proxy"
        return proxies[-1].url

    def substitute(self, text: str) -> str:
        for name in ("127.0.0.1", "localhost"):
            if f"{name}:{MOCK_PORT}" in text:
                text = text.replace(f"http://{name}:{MOCK_PORT}", self.mock_url)
            if f"{name}:{PROXY_PORT}" in text:
                text = text.replace(f"http://{name}:{PROXY_PORT}", self.proxy_url)
            if f"{name}:{REDIS_PORT}" in text:
                text = text.replace(f"{name}:{REDIS_PORT}", f"{HOST}:{self.redis(())}")
        return text

    def run(self, step: Step) -> None:
        """The step, if it is of a kind a block runs (the others are checked without a block)."""
        handlers: dict[str, Callable[[Step], None]] = {
            "assign": lambda step: self.assignments.append(step.text),
            "serve": self.start,
            "proxy": self.start,
            "curl": self.curl,
            "redis": lambda step: self.start_redis(step),
            "sleep": lambda step: time.sleep(min(float(step.words[1]), LONGEST_SLEEP)),
            "wait": self.wait,
            "kill": self.kill,
            "readers-own": self.readers_own,
        }
        handler = handlers.get(step.kind or "")
        if handler is not None:
            handler(step)

    def start_redis(self, step: Step) -> None:
        self.redis(tuple(redis_flags(step.words[1:])))

    def start(self, step: Step) -> None:
        """The server as the step says, once every server the block started in the foreground has
        stopped (a reader presses Ctrl-C before typing the next server's command)."""
        for server in self.servers:
            if server.running and not any(job.server is server for job in self.jobs):
                server.stop()
        arguments, files = server_arguments(step, lambda: self.mock_url, self.directory)
        arguments = [self.substitute(argument) for argument in arguments]
        seed = value_of(arguments, "--seed")
        if seed is not None and not (self.directory / seed).exists():
            examples = [fence for fence in fences(step.page) if fence.language == "yaml"]
            assert examples, f"{step.where}: --seed {seed}: no earlier command writes it, nor the page"
            (self.directory / seed).write_text(examples[0].text)
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
        ready = "/openapi.json" if server.command == "serve" else "/__mock/violations"
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

    def shell(self, step: Step) -> list[str]:
        return ["bash", "-c", self.substitute("\n".join([*self.assignments, step.text]))]

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
        assert job.server is not None, f"{step.where}: %N names a server the block started with &"
        job.server.stop()

    def readers_own(self, step: Step) -> None:
        status = post(f"{self.proxy_url}/api/chat/{DEMO_IDLE_CHAT}/stop", {"x-api-key": DEMO_KEY})
        assert status == 200, f"{step.where}: {READERS_OWN[step.text]}: {status}"

    def close(self, *, wait: bool) -> None:
        """Waits for the background commands, and stops the servers (`wait`: before it returns)."""
        for job in self.jobs:
            self.finish(job)
        for server in self.servers:
            if server.running and wait:
                server.stop()
            elif server.running:
                self.stopping.stop(server)


def value_of(arguments: list[str], flag: str) -> str | None:
    for index, argument in enumerate(arguments[:-1]):
        if argument == flag:
            return arguments[index + 1]
    return None


def server_arguments(
    step: Step, upstream: Callable[[], str], directory: Path
) -> tuple[list[str], tuple[Path, ...]]:
    """`serve`/`proxy` and its flags as the page gives them, `--port` left out (the test picks
    one), a proxy's `--upstream` a local mock; and the files a proxy writes at shutdown."""
    words = step.program
    arguments = [words[1]]
    files = []
    rest = iter(words[2:])
    for word in rest:
        if word == "--port":
            next(rest)
            continue
        assert "$" not in word, f"{step.where}: {word}: a server's flags are given without shell variables"
        arguments.append(word)
        if word == "--upstream":
            next(rest)
            arguments.append(upstream())
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


def run_block(block: list[Step], mock: str, directory: Path, stopping: Stopping) -> None:
    """The block's steps in order; what it started is stopped at its end (its servers before its
    `redis-server`)."""
    (directory / "openapi").symlink_to(ROOT / "openapi")
    with contextlib.ExitStack() as redis_stack:
        ports: list[int] = []

        def redis(flags: tuple[str, ...]) -> int:
            if not ports:
                executable = shutil.which("redis-server")
                if executable is None:
                    if os.environ.get("RECOUP_MOCK_REQUIRE_REDIS") == "1":
                        pytest.fail("redis-server is not installed, and RECOUP_MOCK_REQUIRE_REDIS=1")
                    pytest.skip("redis-server is not installed (RECOUP_MOCK_REQUIRE_REDIS=1 fails instead)")
                (directory / "redis").mkdir()
                started = redis_stack.enter_context(redis_server(executable, directory / "redis", flags))
                ports.append(started.port)
            return ports[0]

        session = Session(directory, mock, stopping, redis)
        try:
            for step in block:
                session.run(step)
        finally:
            session.close(wait=bool(ports))
