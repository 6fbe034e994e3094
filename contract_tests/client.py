"""A client of the stop contract that checks every response it reads against the served spec.

It reaches chats only through the public lifecycle (`POST /api/sessions`, `POST /api/chat`), so it
works against any implementation given an API key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from contract_tests.conformance import SpecConformance

DONE = "[DONE]"


@dataclass(frozen=True)
class ChatRef:
    session_id: str
    chat_id: str


@dataclass
class StreamLog:
    """What a client saw of one streamed answer, with the time each event arrived."""

    status_code: int
    headers: httpx.Headers
    chunks: list[dict[str, Any]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    done: bool = False
    ended_at: float | None = None

    @property
    def text(self) -> str:
        return "".join(c.get("delta", "") for c in self.chunks if c.get("type") == "text-delta")

    def types(self) -> list[str]:
        return [c.get("type", "?") for c in self.chunks]


def curl_for(request: httpx.Request) -> str:
    """A curl command line that sends `request` again."""
    parts = ["curl", "-sS", "-X", request.method]
    for name, value in request.headers.items():
        if name.lower() not in (
            "host",
            "content-length",
            "accept-encoding",
            "connection",
            "user-agent",
            "accept",
        ):
            parts += ["-H", f"{name}: {value}"]
    if request.content:
        parts += ["--data-raw", request.content.decode(errors="replace")]
    parts.append(str(request.url))
    return shlex.join(parts)


def user_message(text: str, message_id: str = "user-1") -> dict[str, Any]:
    return {"id": message_id, "role": "user", "parts": [{"type": "text", "text": text}]}


class RecoupClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        api_key: str | None,
        conformance: SpecConformance | None = None,
    ) -> None:
        self.http = http
        self.api_key = api_key
        self.conformance = conformance

    def auth_headers(self) -> dict[str, str]:
        return {"x-api-key": self.api_key} if self.api_key else {}

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
        authenticate: bool = True,
        **kwargs: Any,
    ) -> httpx.Response:
        all_headers = {**(self.auth_headers() if authenticate else {}), **(headers or {})}
        response = await self.http.request(method, path, headers=all_headers, json=json_body, **kwargs)
        self.check(response)
        return response

    def check(self, response: httpx.Response) -> None:
        if self.conformance is not None:
            try:
                self.conformance.check(response)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\nReproduce with:\n{curl_for(response.request)}") from exc

    async def create_chat(self, title: str = "contract") -> ChatRef:
        response = await self.request("POST", "/api/sessions", json_body={"title": title})
        assert response.status_code == 200, f"cannot create a session: {response.text}"
        body = response.json()
        return ChatRef(body["session"]["id"], body["chat"]["id"])

    async def stop(self, chat_id: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", f"/api/chat/{chat_id}/stop", **kwargs)

    async def chat_state(self, chat: ChatRef) -> dict[str, Any]:
        response = await self.request("GET", f"/api/sessions/{chat.session_id}/chats/{chat.chat_id}")
        assert response.status_code == 200, response.text
        state: dict[str, Any] = response.json()
        return state

    def send_body(self, chat: ChatRef, text: str) -> dict[str, Any]:
        return {
            "sessionId": chat.session_id,
            "chatId": chat.chat_id,
            "messages": [user_message(text)],
        }

    async def send(self, chat: ChatRef, text: str) -> httpx.Response:
        """Send a message and read the whole answer (or the error)."""
        return await self.request("POST", "/api/chat", json_body=self.send_body(chat, text))

    @contextlib.asynccontextmanager
    async def streaming(
        self, method: str, path: str, **kwargs: Any
    ) -> AsyncIterator[tuple[StreamLog, AsyncIterator[dict[str, Any]]]]:
        """Open an SSE request; yield its log and an iterator that fills the log as events come."""
        headers = {**self.auth_headers(), **kwargs.pop("headers", {})}
        async with aconnect_sse(self.http, method, path, headers=headers, **kwargs) as source:
            response = source.response
            log = StreamLog(response.status_code, response.headers)

            async def chunks() -> AsyncIterator[dict[str, Any]]:
                if response.status_code != 200:
                    await response.aread()
                    self.check(response)
                    return
                async for event in source.aiter_sse():
                    log.arrivals.append(time.monotonic())
                    if event.data == DONE:
                        log.done = True
                        continue
                    chunk = json.loads(event.data)
                    log.chunks.append(chunk)
                    yield chunk
                log.ended_at = time.monotonic()

            yield log, chunks()

    async def read_stream(self, method: str, path: str, **kwargs: Any) -> StreamLog:
        async with self.streaming(method, path, **kwargs) as (log, chunks):
            async for _ in chunks:
                pass
        return log

    async def wait_streaming(self, chat: ChatRef, timeout: float = 5.0) -> None:
        """Wait until the chat reports a running response."""
        deadline = time.monotonic() + timeout
        while not (await self.chat_state(chat))["isStreaming"]:
            if time.monotonic() > deadline:
                raise AssertionError("the chat never started streaming")
            await asyncio.sleep(0.01)
