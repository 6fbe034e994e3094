"""`recoup-mock serve --workers N`: N server processes on one listening socket, and their supervisor.

The parent binds the socket (`cli.serve`) and hands it to N "spawn" workers. Each builds the app and
serves it with `GracefulServer` as a single process does; their runtimes share the state through
`config.store` (Redis: the in-memory store is one process's own). The parent relays SIGTERM and
SIGINT to every worker (each in a process group of its own, so that a terminal's Ctrl-C reaches it
once), kills those still running `shutdown_timeout` after the first signal, and exits 0 after SIGTERM,
130 after Ctrl-C. A worker that dies while serving is replaced; one that ends before it served
(uvicorn's status 3: the app's start-up failed, the store unreachable, say) stops the others and the
parent, with status 3. A worker whose parent dies stops as on SIGTERM.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from mock_server.config import Config
from mock_server.domain.seed import Seed
from mock_server.flags import masked
from mock_server.http.access_log import access_logged
from mock_server.http.app import MockApp, create_app
from mock_server.http.server import GracefulServer, answers_of, uvicorn_options

logger = logging.getLogger("uvicorn.error")

SPAWN = multiprocessing.get_context("spawn")
PARENT_RESERVE = 0.1
"""Seconds of `shutdown_timeout` the parent keeps for itself: it kills a worker still running
this long before the timeout, then exits."""


def configure_logging(config: Config) -> None:
    logging.basicConfig(level=config.log_level.upper(), format="%(levelname)s: %(message)s")


class _Server(GracefulServer):
    """`GracefulServer` that, once it serves, says so on `ready` (a worker's pipe to its parent)."""

    ready: Connection | None = None

    async def startup(self, sockets: list[Any] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self.ready is not None:
            with contextlib.suppress(OSError):  # no parent to tell: it has gone, and so will this
                self.ready.send(True)


def graceful_server(config: Config, app: MockApp, ready: Connection | None = None) -> GracefulServer:
    """The server `recoup-mock serve` runs `app` with; `ready` hears once it serves."""
    server = _Server(
        uvicorn.Config(
            access_logged(app, config.log_level),
            host=config.host,
            port=config.port,
            log_level=config.log_level,
            access_log=False,  # the mock's own, batched (`access_log.py`)
            **uvicorn_options(config),  # hardened protocol, keep-alive, shutdown timeout
        ),
        end_answers=answers_of(app),
        shutdown_timeout=config.shutdown_timeout,
    )
    server.ready = ready
    return server


def run_worker(config: Config, seed: Seed, sock: socket.socket, ready: Connection) -> None:
    """A worker process's body: serve the app on the parent's socket until a signal ends it."""
    os.setpgrp()  # a terminal's Ctrl-C reaches the parent alone, which relays it once
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_stop_with, args=(parent.sentinel,), name="parent", daemon=True).start()
    configure_logging(config)
    with contextlib.suppress(KeyboardInterrupt):  # the relayed Ctrl-C, once shut down: the parent's to tell
        graceful_server(config, create_app(config, seed), ready).run(sockets=[sock])


def _stop_with(parent_sentinel: int) -> None:
    wait([parent_sentinel])  # readable once the parent has exited, however it did
    os.kill(os.getpid(), signal.SIGTERM)


def workers_line(config: Config) -> str:
    """The banner's line about the workers and the store they share (its password hidden)."""
    store = masked(config.store)
    return f"  {config.workers} worker processes sharing {store} (key prefix {config.store_prefix})"


def memory_refusal(config: Config) -> str | None:
    """Why `config` cannot be served, when it asks for several workers on the in-memory store."""
    if config.workers == 1 or config.store != "memory":
        return None
    return (
        f"--workers {config.workers} needs a store the processes share: set --store "
        "redis://HOST:PORT/DB (or RECOUP_MOCK_STORE); the in-memory store is one process's own"
    )


def _status(code: int) -> str:
    if code >= 0:
        return f"exit status {code}"
    with contextlib.suppress(ValueError):
        return f"killed by {signal.Signals(-code).name}"
    return f"killed by signal {-code}"


@dataclass
class _Worker:
    process: SpawnProcess
    ready: Connection | None
    """Its readiness pipe, until it reports that it serves or dies."""
    serving: bool = False
    signalled: bool = False


def _signal(worker: _Worker, sig: int) -> None:
    if worker.process.pid is not None and worker.process.exitcode is None:
        os.kill(worker.process.pid, sig)
        worker.signalled = True


class Supervisor:
    """Runs `config.workers` workers on `sock` until SIGTERM or SIGINT; `run` returns the exit status."""

    def __init__(self, config: Config, seed: Seed, sock: socket.socket) -> None:
        self.config = config
        self.seed = seed
        self.sock = sock
        self.workers: list[_Worker] = []
        self.stop_signal: int | None = None
        self.stopped_at: float | None = None
        """When the first stop signal came, on the monotonic clock."""

    def run(self) -> int:
        wake, wake_up = socket.socketpair()
        for end in (wake, wake_up):
            end.setblocking(False)
        handlers = {sig: signal.signal(sig, self._relay) for sig in (signal.SIGTERM, signal.SIGINT)}
        wakeup_fd = signal.set_wakeup_fd(wake_up.fileno(), warn_on_full_buffer=False)
        try:
            logger.info("Started parent process [%d] of %d workers", os.getpid(), self.config.workers)
            for _ in range(self.config.workers):
                self.workers.append(self._start())
            failure = self._supervise(wake)
        finally:
            self._join_all()  # however the supervision ended, no worker outlives the parent
            signal.set_wakeup_fd(wakeup_fd)
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            wake.close()
            wake_up.close()
        if failure is not None:
            print(f"recoup-mock: {failure}", file=sys.stderr, flush=True)
            return STARTUP_FAILURE
        return 130 if self.stop_signal == signal.SIGINT else 0

    def _start(self) -> _Worker:
        ready, ready_end = SPAWN.Pipe(duplex=False)
        process = SPAWN.Process(
            target=run_worker, args=(self.config, self.seed, self.sock, ready_end), name="recoup-mock worker"
        )
        process.start()
        ready_end.close()  # the worker has its copy
        return _Worker(process, ready)

    def _relay(self, sig: int, _frame: FrameType | None) -> None:
        """Handles a stop signal: every live worker gets it too, each time."""
        if self.stop_signal is None:
            self.stop_signal = sig
            self.stopped_at = time.monotonic()
        for worker in self.workers:
            _signal(worker, sig)

    def _supervise(self, wake: socket.socket) -> str | None:
        """Keeps the workers serving until a stop signal; the reason to stop if one cannot start."""
        while self.stop_signal is None:
            pipes = [worker.ready for worker in self.workers if worker.ready is not None]
            wait([wake, *pipes, *(worker.process.sentinel for worker in self.workers)])
            with contextlib.suppress(BlockingIOError):
                while wake.recv(4096):  # the signals' bytes: their handler has run
                    pass
            for index, worker in enumerate(self.workers):
                self._read_ready(worker)
                code = worker.process.exitcode
                if code is None or self.stop_signal is not None:
                    continue
                if not worker.serving:
                    why = ", the app failed to start" if code == STARTUP_FAILURE else ""
                    return (
                        f"worker [{worker.process.pid}] could not start ({_status(code)}{why}; "
                        "its error is logged above): stopped every worker"
                    )
                logger.warning("Worker [%d] died (%s); starting another", worker.process.pid, _status(code))
                self.workers[index] = self._start()
        return None

    def _read_ready(self, worker: _Worker) -> None:
        if worker.ready is None or not worker.ready.poll():
            return
        try:
            worker.serving = worker.ready.recv() is True
            logger.info("Worker [%d] is serving", worker.process.pid)
        except EOFError:
            pass  # it died before it served: its exit status tells
        worker.ready.close()
        worker.ready = None

    def _join_all(self) -> None:
        for worker in self.workers:  # those no signal reached: after a failure, or started meanwhile
            if not worker.signalled:
                _signal(worker, self.stop_signal or signal.SIGTERM)
        # A worker exits on its own within the timeout (`GracefulServer`): this only catches one
        # that hangs or is starved, early enough for this process to exit in time too.
        timeout = self.config.shutdown_timeout
        kept = min(PARENT_RESERVE, timeout / 4)
        deadline = (self.stopped_at or time.monotonic()) + timeout - kept
        for worker in self.workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.exitcode is None:
                logger.warning("Worker [%d] still running at the deadline: killing it", worker.process.pid)
                worker.process.kill()
                worker.process.join()
            if worker.ready is not None:
                worker.ready.close()
