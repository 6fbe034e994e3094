"""The HTTP server around the app: uvicorn with the hardened protocol (`protocol.py`), and a
shutdown that ends every open answer stream the way a stop does.

`GracefulServer` is uvicorn's server whose first SIGTERM or SIGINT first ends every running answer
(`ChatService.cancel_all`: each open stream gets its cancelled tool calls, `abort` and `[DONE]`, or
an `error` chunk for one that ignores the cancel), lets the streams flush, and only then lets uvicorn
and sse-starlette stop; all within `shutdown_timeout` seconds. A second Ctrl-C exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Generator
from types import FrameType
from typing import Any, NoReturn

import uvicorn

from mock_server.config import Config
from mock_server.http import access_log
from mock_server.http.protocol import Limits, protocol_for

logger = logging.getLogger("uvicorn.error")

EXIT_RESERVE = 0.2
"""Seconds of `shutdown_timeout` left for the process to exit once the server has stopped."""


def exit_at_once(code: int) -> NoReturn:
    """End a process that has stopped serving without the interpreter's teardown of every module
    it loaded: 0.1 to 0.3 s with the app loaded, which carried exits past `shutdown_timeout`.
    What must outlive the server (the access log's last lines, the log, stdio) is flushed first."""
    access_log.flush_all()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or broken pipe: nothing left to say there
            stream.flush()
    os._exit(code)


EndAnswers = Callable[[float], Awaitable[object]]
"""Ends every running answer, giving those that ignore the cancel `grace` seconds (the service's
`cancel_all`)."""


def uvicorn_options(config: Config) -> dict[str, Any]:
    """`uvicorn.Config`'s arguments for the hardened protocol, the keep-alive and the shutdown."""
    return {
        "http": protocol_for(Limits.of(config)),
        "timeout_keep_alive": config.keep_alive_timeout,
        "timeout_graceful_shutdown": config.shutdown_timeout,
        # The contract has no WebSocket: an `Upgrade: websocket` request is a plain HTTP request,
        # answered by the app in the contract's body, not by uvicorn's plain-text refusal.
        "ws": "none",
    }


def answers_of(app: object) -> EndAnswers | None:
    """The mock app's way to end its running answers; None for another ASGI app (bench's ceiling)."""
    runtime = getattr(app, "runtime", None)
    service = getattr(runtime, "service", None)
    end: EndAnswers | None = getattr(service, "cancel_all", None)
    return end


class GracefulServer(uvicorn.Server):
    """uvicorn's server; its first SIGTERM or SIGINT ends the running answers before it stops.

    uvicorn stops on `should_exit`, and sse-starlette cuts every open stream as soon as it sees it
    (`AppStatus.should_exit`, set by the `handle_exit` it patches into uvicorn's server, or the
    server's own flag): so the flag is raised only once the answers have ended and their streams
    flushed. Meanwhile no new connection is accepted, and an answer that starts is stopped at once.
    SIGTERM then exits with status 0; SIGINT ends as uvicorn's does (KeyboardInterrupt, 130).
    """

    def __init__(
        self, config: uvicorn.Config, *, end_answers: EndAnswers | None, shutdown_timeout: float
    ) -> None:
        super().__init__(config)
        self.end_answers = end_answers
        self.shutdown_timeout = shutdown_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ending_requested = False
        self._ending: asyncio.Task[None] | None = None
        self._stop_by: float | None = None
        """When, on the loop's clock, a graceful stop must be over (`shutdown_timeout` after its signal)."""

    async def startup(self, sockets: list[Any] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets=sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._loop is None or self.should_exit:
            super().handle_exit(sig, frame)  # not serving yet, or stopping: uvicorn's own handling
        elif not self._ending_requested:
            self._ending_requested = True
            self._loop.call_soon_threadsafe(self._start_ending, sig)
        elif sig == signal.SIGINT:  # a second Ctrl-C while the answers end: exit at once
            if self._ending is not None:
                self._ending.cancel()
            super().handle_exit(sig, frame)
            self.force_exit = True

    def _start_ending(self, sig: int) -> None:
        if not self.should_exit:
            self._stop_by = asyncio.get_running_loop().time() + self.shutdown_timeout - EXIT_RESERVE
            self._ending = asyncio.get_running_loop().create_task(self._end_answers_then_exit(sig))

    async def _end_answers_then_exit(self, sig: int) -> None:
        loop = asyncio.get_running_loop()
        # What uvicorn's own shutdown needs once the flag is up: a tick of its main loop, its
        # pause after asking connections to close, the app's lifespan shutdown.
        reserve = min(0.5, self.shutdown_timeout / 2)
        deadline = loop.time() + self.shutdown_timeout - reserve
        try:
            logger.info("Shutting down: ending the running answers (CTRL+C to quit at once)")
            for server in getattr(self, "servers", ()):
                server.close()  # no new connections
            for connection in list(self.server_state.connections):
                connection.shutdown()  # idle ones close; busy ones close after their answer
            if self.end_answers is not None:
                grace = self.shutdown_timeout / 4
                async with asyncio.timeout(max(0.0, deadline - loop.time())):
                    await self.end_answers(grace)
            while self._answers_under_way() and loop.time() < deadline:
                await asyncio.sleep(0.01)
        except TimeoutError:
            logger.warning("Running answers still going after %g s; stopping anyway", self.shutdown_timeout)
        except Exception:  # never keep the server from stopping
            logger.exception("Ending the running answers failed")
        finally:
            self.config.timeout_graceful_shutdown = max(0.0, deadline - loop.time())  # type: ignore[assignment]
            if not self.should_exit:
                super().handle_exit(sig, None)

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        """uvicorn's shutdown (open connections, then the app's lifespan), bounded by what is left
        of `shutdown_timeout` after a graceful stop: the process exits in time whatever hangs."""
        if self._stop_by is None:
            await super().shutdown(sockets=sockets)
            return
        try:
            async with asyncio.timeout_at(self._stop_by):
                await super().shutdown(sockets=sockets)
        except TimeoutError:
            logger.warning("The shutdown was not over after %g s: exiting without it", self.shutdown_timeout)

    def _answers_under_way(self) -> bool:
        for connection in self.server_state.connections:
            cycle = getattr(connection, "cycle", None)
            if cycle is not None and not cycle.response_complete:
                return True
        return False

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        with super().capture_signals():
            yield
            # uvicorn re-raises the signals it caught once it has stopped; a SIGTERM that stopped
            # the server gracefully is a normal exit (status 0), not a death by signal.
            self._captured_signals = [s for s in self._captured_signals if s != signal.SIGTERM]
