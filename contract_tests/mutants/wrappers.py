"""The broken HTTP layers of the mutants: ASGI wrappers around the mock that break one rule each.

Each wrapper breaks exactly one rule of the contract and otherwise passes the mock's answers on, so
the test that catches it is the one that checks that rule.
"""

from __future__ import annotations

import asyncio
import http
import json
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_server.domain.models import is_uuid
from mock_server.http.error_body import error_json

Rewrite = Callable[[Scope, int, dict[str, Any]], tuple[int, str, dict[str, Any]]]


class _JsonRewriter:
    """Buffers each JSON response of `app` and lets `rewrite` change its status, type and body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def rewrite(self, scope: Scope, status: int, body: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def buffered_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if dict(message.get("headers", [])).get(b"content-type", b"").startswith(b"application/json"):
                    start = message
                    return
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                status, content_type, body = self.rewrite(
                    scope, start["status"], json.loads(b"".join(chunks))
                )
                payload = json.dumps(body).encode()
                headers: list[tuple[bytes, bytes]] = [
                    (k, v)
                    for k, v in start.get("headers", [])
                    if k not in (b"content-type", b"content-length")
                ]
                headers += [
                    (b"content-type", content_type.encode()),
                    (b"content-length", str(len(payload)).encode()),
                ]
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": payload})
                return
            await send(message)

        await self.app(scope, receive, buffered_send)


class ProblemJsonErrors(_JsonRewriter):
    def rewrite(self, scope: Scope, status: int, body: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
        if status < 400:
            return status, "application/json", body
        problem = {
            "type": "about:blank",
            "title": http.HTTPStatus(status).phrase,
            "status": status,
            "detail": body.get("error") or body.get("message"),
        }
        return status, "application/problem+json", problem


class SuccessMissing(_JsonRewriter):
    def rewrite(self, scope: Scope, status: int, body: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
        if status == 200 and scope["path"].endswith("/stop"):
            body = {k: v for k, v in body.items() if k != "success"}
        return status, "application/json", body


LINGER_SECONDS = 20.0


class StreamLingers:
    """Every event stream stays open `seconds` after its last event (None: until the client
    leaves, as a server whose streams never end their response)."""

    def __init__(self, app: ASGIApp, seconds: float | None = LINGER_SECONDS) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        streaming = False

        async def lingering_send(message: Message) -> None:
            nonlocal streaming
            if message["type"] == "http.response.start":
                content_type = dict(message.get("headers", [])).get(b"content-type", b"")
                streaming = content_type.startswith(b"text/event-stream")
            elif streaming and message["type"] == "http.response.body" and not message.get("more_body"):
                await send({**message, "more_body": True})
                if self.seconds is None:
                    await asyncio.Event().wait()  # until the client leaves and the task is cancelled
                await asyncio.sleep(self.seconds or 0)
            await send(message)

        await self.app(scope, receive, lingering_send if scope["type"] == "http" else send)


class StartIndexUnchecked:
    """A resume reads a `startIndex` that is not a non-negative integer as no start index."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/stream"):
            query = urllib.parse.parse_qsl(scope.get("query_string", b"").decode("latin-1"), True)
            kept = [(k, v) for k, v in query if k != "startIndex" or v.isdigit()]
            scope = {**scope, "query_string": urllib.parse.urlencode(kept).encode()}
        await self.app(scope, receive, send)


_STOP_PATH = re.compile(r"^/api/chat/(?P<chat_id>[^/]+)/stop$")


class ValidationBeforeAuth:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _STOP_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match and scope["method"] == "POST" and not is_uuid(match["chat_id"]):
            body = error_json("chatId must be a valid UUID")
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 400, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
