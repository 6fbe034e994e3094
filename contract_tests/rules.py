"""What the Hypothesis rules share: running on the target, expectations, stops and generations.

Waiting is always on an event (the first chunk of a stream, the stream's end) and bounded by the
run's `--timeout`, never a fixed sleep, so the rules hold the same against a server that answers in
1 ms or in a few hundred. A rule that cannot be decided this time because the server did something
legitimate (an answer ended by itself before a stop reached it) is retried, then NOT CHECKED.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from contract_judge import error_body_problem
from contract_tests.client import ChatRef, RecoupClient, SetupUnavailable, StreamLog, json_body
from contract_tests.outgoing import curl_for
from contract_tests.suite import current
from contract_tests.violations import Violation, ViolationError, describe_response

SUITE = current()
TARGET = SUITE.target
OPTIONS = SUITE.options

IDLE_ANSWER = {"success": True, "stopped": False}
STOPPED_ANSWER = {"success": True, "stopped": True}
ATTEMPTS = 3
"""Tries of a rule whose outcome a legitimately fast answer left undecided."""
LATE_SLACK = 0.1 + 2 * TARGET.round_trip
"""Seconds a chunk already on its way when the stop answered may still take to arrive: a tenth of a
second for the server's own scheduling, plus the network's round trip, twice."""
CHATS_PATH = "/api/sessions/{sessionId}/chats/{chatId}"

CHAT_CREATION_PROBLEM = TARGET.chat_creation_problem()
CAN_CREATE_CHATS = CHAT_CREATION_PROBLEM is None
CAN_READ_CHATS = TARGET.has_operation("get", CHATS_PATH)
GIVEN_CHATS = bool(OPTIONS.chat and OPTIONS.other_chat)


def _generation_unavailable() -> str | None:
    if not OPTIONS.generation:
        return "--no-generation: this rule needs a running generation"
    if CHAT_CREATION_PROBLEM is not None:
        return f"this rule needs a running generation in a new chat: {CHAT_CREATION_PROBLEM}"
    for method, path in (("post", "/api/sessions"), ("post", "/api/chat"), ("get", CHATS_PATH)):
        if not TARGET.has_operation(method, path):
            return (
                f"the contract judged has no {method.upper()} {path}: this rule needs a running "
                "generation, which only the chat lifecycle can start"
            )
    return None


GENERATION_UNAVAILABLE = _generation_unavailable()
needs_generation = pytest.mark.skipif(GENERATION_UNAVAILABLE is not None, reason=GENERATION_UNAVAILABLE or "")


class Inconclusive(Exception):
    """The server did something legitimate that leaves the rule undecided this time."""


_TIMED_OUT: dict[str, Violation] = {}
"""Per rule, the time-out that failed it: its further examples (Hypothesis shrinking the failure)
fail at once with it, instead of waiting it out again."""


def run(body: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
    """Run a rule's body on the target's loop; an inconclusive body is tried again, then NOT CHECKED."""
    rule = body.__qualname__.split(".")[0]
    if rule in _TIMED_OUT:
        raise ViolationError(_TIMED_OUT[rule])
    TARGET.counts["rule examples"] += 1
    for _ in range(ATTEMPTS):
        try:
            TARGET.run(body, *args)
            return
        except Inconclusive as exc:
            reason = str(exc)
        except SetupUnavailable as exc:
            pytest.skip(f"set-up: {exc}")
        except ViolationError as exc:
            waited = next((v for v in exc.violations if v.timed_out), None)
            if waited is not None:
                _TIMED_OUT[rule] = waited
            raise
    pytest.skip(f"undecided after {ATTEMPTS} tries: {reason}")


def client(who: str = "a") -> RecoupClient:
    return TARGET.client(who)


def expect(
    condition: bool,
    message: str,
    response: httpx.Response | StreamLog | None = None,
    *,
    timed_out: bool = False,
) -> None:
    """Fail the rule with `message`, the request that broke it and what came back; `timed_out`
    when the rule waited out a bound for it."""
    if condition:
        return
    if response is None:
        raise ViolationError(Violation(message, timed_out=timed_out))
    shown = response.describe() if isinstance(response, StreamLog) else describe_response(response)
    raise ViolationError(Violation(message, curl_for(response.request), shown, timed_out=timed_out))


def expect_answer(response: httpx.Response, answer: dict[str, Any], what: str) -> None:
    expect(response.status_code == 200, f"{what}: expected 200", response)
    expect(json_body(response) == answer, f"{what}: expected {answer}", response)


def expect_error(response: httpx.Response, status: int, what: str) -> None:
    expect(response.status_code == status, f"{what}: expected {status}", response)
    expect_error_body(response)


def expect_error_body(response: httpx.Response) -> None:
    problem = error_body_problem(
        response.status_code, response.headers.get("content-type", ""), response.content
    )
    expect(problem is None, problem or "", response)


def schemes() -> list[str]:
    """The credential schemes the judged contract documents."""
    return ["x-api-key", "bearer"] if TARGET.accepts_bearer else ["x-api-key"]


@dataclass
class Generation:
    """A message's answer, read in the background while a rule acts on the chat."""

    reading: asyncio.Task[StreamLog]
    started: asyncio.Event
    log: StreamLog | None = None
    deltas: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def chunks(self) -> list[dict[str, Any]]:
        return self.log.chunks if self.log else []

    def finished_by_itself(self) -> bool:
        """Whether the answer ended on its own (a `finish` chunk), not because it was stopped: a
        stopped one says `abort` first (the service ends a stopped turn with `finish` too)."""
        types = {chunk.get("type") for chunk in self.chunks}
        return "finish" in types and "abort" not in types

    async def end(self, budget: float) -> StreamLog | None:
        """The answer's log once its stream has ended, or None after `budget` seconds."""
        try:
            return await asyncio.wait_for(asyncio.shield(self.reading), budget)
        except TimeoutError:
            return None


Chunks = list[dict[str, Any]]


@asynccontextmanager
async def generating(
    api: RecoupClient,
    chat: ChatRef,
    text: str = "Tell me a long story",
    deltas: int = 0,
    until: Callable[[Chunks], bool] | None = None,
    reaching: str = "begin",
) -> AsyncIterator[Generation]:
    """A generation running for `chat` while the block runs: entered once its stream has begun and
    carried `deltas` deltas of any part (reasoning, tool input, text), or once `until` holds of the
    chunks so far. An answer that ends by itself first is `Inconclusive`."""
    started = asyncio.Event()
    enough = asyncio.Event()
    reached = until or (lambda chunks: sum(str(c.get("type")).endswith("-delta") for c in chunks) >= deltas)

    async def read() -> StreamLog:
        async with api.streaming("POST", "/api/chat", json=api.send_body(chat, text)) as (log, chunks):
            generation.log = log
            async for _ in chunks:
                started.set()
                if reached(log.chunks):
                    enough.set()
        started.set()
        enough.set()
        return log

    generation = Generation(asyncio.create_task(read()), started, deltas=enough)
    try:
        try:
            await asyncio.wait_for(enough.wait(), OPTIONS.timeout)
        except TimeoutError:
            late = f"a sent message's answer did not {reaching} within {OPTIONS.timeout:g} s (--timeout)"
            if until is not None and generation.chunks:
                # The answer streams, just not what the rule waits for: the target's answers differ.
                raise Inconclusive(late) from None
            expect(False, late, generation.log, timed_out=True)
        if generation.reading.done():
            log = generation.reading.result()
            expect(
                log.status_code == 200,
                f"a message to one's own idle chat is answered 200, got {log.status_code}",
                log,
            )
            if generation.finished_by_itself():
                raise Inconclusive(f"the answer ended by itself before it could {reaching} and be stopped")
            expect(False, "the answer's stream ended without a finish chunk before anything stopped it", log)
        yield generation
    finally:
        if not generation.reading.done():
            await api.stop(chat.chat_id)
            if await generation.end(OPTIONS.timeout) is None:
                generation.reading.cancel()


async def state_of(api: RecoupClient, chat: ChatRef) -> dict[str, Any] | None:
    """The chat as its owner reads it, or None when the chat was given by id (no session known)."""
    if chat.session_id is None or not CAN_READ_CHATS:
        return None
    return await api.chat_state(chat)
