"""A client of the stop contract that checks every response it reads against the contract's document.

It reaches chats through the public lifecycle (`POST /api/sessions`, `POST /api/chat`), so it works
against any implementation given an API key; every request goes through the run's `Outgoing`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json as jsonlib
import time
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent

from contract_judge.streams import StreamGrammar
from contract_tests.conformance import SpecConformance
from contract_tests.outgoing import Outgoing, curl_for, server_faults
from contract_tests.violations import Violation, ViolationError, describe_response

DONE = "[DONE]"
CLOSE_GRACE = 2.0
"""Seconds a stream may stay open after its end (`finish` or `data: [DONE]`), at most `--timeout`."""


class SetupUnavailable(Exception):
    """The target cannot provide what a rule needs set up (a rule is then NOT CHECKED, with this reason)."""


@dataclass(frozen=True)
class ChatRef:
    session_id: str | None
    """None for a chat given by id (`--chat`): its state cannot be read without its session."""
    chat_id: str


@dataclass
class StreamLog:
    """What a client saw of one streamed answer, with the time each event arrived."""

    status_code: int
    headers: httpx.Headers
    request: httpx.Request
    chunks: list[dict[str, Any]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    done: bool = False
    ended_at: float | None = None
    error_text: str = ""
    """The body of an answer that was not a stream (an error)."""

    @property
    def text(self) -> str:
        return "".join(c.get("delta", "") for c in self.chunks if c.get("type") == "text-delta")

    def types(self) -> list[str]:
        return [c.get("type", "?") for c in self.chunks]

    def describe(self) -> str:
        """What came back, for a report: the status, content type and the chunk types seen."""
        content_type = self.headers.get("content-type", "")
        seen = self.error_text[:300] if self.error_text else f"chunks {self.types()[:12]}"
        return f"{self.status_code} {content_type}: {seen}"


def stop_path(chat_id: str) -> str:
    return f"/api/chat/{urllib.parse.quote(chat_id, safe='')}/stop"


def user_message(text: str, message_id: str = "user-1") -> dict[str, Any]:
    return {"id": message_id, "role": "user", "parts": [{"type": "text", "text": text}]}


def json_body(response: httpx.Response) -> Any:
    """The response's JSON, or a violation saying the answer is not JSON."""
    try:
        return response.json()
    except ValueError:
        raise ViolationError(
            Violation("the answer is not JSON", curl_for(response.request), describe_response(response))
        ) from None


class RecoupClient:
    def __init__(
        self,
        outgoing: Outgoing | httpx.AsyncClient,
        api_key: str | None,
        conformance: SpecConformance | None = None,
    ) -> None:
        if isinstance(outgoing, httpx.AsyncClient):
            outgoing = Outgoing(outgoing, timeout=outgoing.timeout.read or 30.0)
        self.outgoing = outgoing
        self.api_key = api_key
        self.conformance = conformance

    @property
    def http(self) -> httpx.AsyncClient:
        """The underlying client, for requests no well-behaved client sends (still checked as legal)."""
        return self.outgoing.http

    def auth_headers(self) -> dict[str, str]:
        return {"x-api-key": self.api_key} if self.api_key else {}

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        authenticate: bool = True,
        validate: bool = True,
    ) -> httpx.Response:
        """Send and read one request; unless `validate` is off, its answer must keep the document."""
        all_headers = {**(self.auth_headers() if authenticate else {}), **(headers or {})}
        response = await self.outgoing.request(
            method, path, headers=all_headers, json=json_body, content=content
        )
        if validate:
            self.check(response)
        return response

    def check(self, response: httpx.Response) -> None:
        if self.conformance is None:
            return
        try:
            self.conformance.check(response)
        except AssertionError as exc:
            violation = Violation(str(exc), curl_for(response.request), describe_response(response))
            raise ViolationError(violation) from exc

    async def create_chat(self, title: str = "contract") -> ChatRef:
        """A new chat of this account, through `POST /api/sessions` (`SetupUnavailable` when refused)."""
        response = await self.request("POST", "/api/sessions", json_body={"title": title}, validate=False)
        if response.status_code != 200:
            raise SetupUnavailable(f"POST /api/sessions answered {response.status_code}, not a new chat")
        self.check(response)
        body = json_body(response)
        return ChatRef(body["session"]["id"], body["chat"]["id"])

    async def chat_state(self, chat: ChatRef) -> dict[str, Any]:
        assert chat.session_id is not None, "the state of a chat given by id cannot be read"
        response = await self.request("GET", f"/api/sessions/{chat.session_id}/chats/{chat.chat_id}")
        if response.status_code != 200:
            raise ViolationError(
                Violation(
                    "the owner reads its own chat: expected 200",
                    curl_for(response.request),
                    describe_response(response),
                )
            )
        state: dict[str, Any] = json_body(response)
        return state

    async def stop(
        self, chat_id: str, *, scheme: str = "x-api-key", headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """Stop `chat_id` (any text, sent as one path segment) with this account's key as
        `x-api-key` or as a Bearer token."""
        if scheme == "bearer":
            bearer = {"Authorization": f"Bearer {self.api_key}", **(headers or {})}
            return await self.request("POST", stop_path(chat_id), headers=bearer, authenticate=False)
        return await self.request("POST", stop_path(chat_id), headers=headers)

    def send_body(self, chat: ChatRef, text: str) -> dict[str, Any]:
        return {"sessionId": chat.session_id, "chatId": chat.chat_id, "messages": [user_message(text)]}

    async def send(self, chat: ChatRef, text: str) -> httpx.Response:
        """Send a message and read the whole answer (or the error)."""
        return await self.request("POST", "/api/chat", json_body=self.send_body(chat, text))

    async def wait_streaming(self, chat: ChatRef) -> None:
        """Wait, at most the run's timeout, until the chat reports a running response."""
        deadline = time.monotonic() + self.outgoing.timeout
        while not (await self.chat_state(chat))["isStreaming"]:
            if time.monotonic() > deadline:
                raise ViolationError(
                    Violation(
                        f"the chat never reported isStreaming within {self.outgoing.timeout:g} s",
                        timed_out=True,
                    )
                )
            await asyncio.sleep(0.01)

    @contextlib.asynccontextmanager
    async def streaming(
        self, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None
    ) -> AsyncIterator[tuple[StreamLog, AsyncIterator[dict[str, Any]]]]:
        """Open an SSE request; yield its log and an iterator that fills the log as events come."""
        all_headers = {**self.auth_headers(), **(headers or {})}
        request = self.outgoing.build(method, path, headers=all_headers, json=json)
        response = await self.outgoing.send(request, stream=True)
        log = StreamLog(response.status_code, response.headers, request)

        async def chunks() -> AsyncIterator[dict[str, Any]]:
            with server_faults(request, self.outgoing.timeout):
                if response.status_code != 200:
                    await response.aread()
                    log.error_text = response.text
                    self.check(response)
                    return
                grammar = StreamGrammar(from_start=request.url.params.get("startIndex", "0") == "0")
                events = EventSource(response).aiter_sse()
                while (event := await self._next_event(events, log, request)) is not None:
                    log.arrivals.append(time.monotonic())
                    if log.done:
                        raise ViolationError(
                            Violation(
                                f"an event after `data: [DONE]`: {event.data[:200]!r}", curl_for(request)
                            )
                        )
                    if event.data == DONE:
                        log.done = True
                        continue
                    chunk = self._chunk(event.data, grammar, request)
                    log.chunks.append(chunk)
                    yield chunk
            log.ended_at = time.monotonic()

        try:
            yield log, chunks()
        finally:
            await response.aclose()

    async def _next_event(
        self, events: AsyncIterator[ServerSentEvent], log: StreamLog, request: httpx.Request
    ) -> ServerSentEvent | None:
        """The stream's next event, or None at its end; once the answer is over, the stream must
        end within `CLOSE_GRACE`, or a client waits on an answer that has nothing more to say."""
        ended = log.done or (bool(log.chunks) and log.chunks[-1].get("type") == "finish")
        try:
            if not ended:
                return await anext(events)
            grace = min(CLOSE_GRACE, self.outgoing.timeout)
            return await asyncio.wait_for(anext(events), grace)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            last = "`data: [DONE]`" if log.done else "`finish`"
            raise ViolationError(
                Violation(
                    f"the stream stayed open {grace:g} s after its end ({last}): a client waits on it",
                    curl_for(request),
                    log.describe(),
                    timed_out=True,
                )
            ) from None

    def _chunk(self, data: str, grammar: StreamGrammar, request: httpx.Request) -> dict[str, Any]:
        """One event's chunk, which must be a chunk of the contract in an order clients assemble."""
        try:
            chunk = jsonlib.loads(data)
        except ValueError:
            chunk = None
        if not isinstance(chunk, dict):
            raise ViolationError(
                Violation(f"a stream event is not a JSON chunk: {data[:200]!r}", curl_for(request))
            )
        problem = self.conformance.chunks.problem(chunk) if self.conformance else None
        problem = problem or grammar.feed(chunk)
        if problem:
            raise ViolationError(
                Violation(f"the answer's stream breaks AI SDK v6 clients: {problem}", curl_for(request))
            )
        return chunk

    async def read_stream(
        self, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None
    ) -> StreamLog:
        async with self.streaming(method, path, json=json, headers=headers) as (log, chunks):
            async for _ in chunks:
                pass
        return log
