"""Bounds on what one request may make the mock read and hold: its body's size, that the body arrived
whole, and its JSON's depth.

The body is bounded after the credentials are checked (a request with a wrong key is refused
before any of its body is read) and before anything parses it: by its `Content-Length` at once,
and by counting while it streams in, for a chunked body. A body that did not arrive whole (the
client went away, or the server refused its framing) ends the request before a handler runs, so it
has no effect.
"""

from __future__ import annotations

import json
from typing import Any

from connexion.exceptions import BadRequestProblem, ProblemException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_server.config import Config
from mock_server.domain.jsontext import Structure
from mock_server.http.runtime import CURRENT_RUNTIME


class BodyTooLarge(ProblemException):  # type: ignore[misc]  # Connexion ships no type information
    def __init__(self, limit: int) -> None:
        super().__init__(
            status=413, title="Payload Too Large", detail=f"The request body is larger than {limit:,} bytes"
        )


class BodyIncomplete(BadRequestProblem):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(detail="The request body did not arrive whole; nothing was done")


def with_body(scope: Scope, receive: Receive, body: bytes) -> tuple[Scope, Receive]:
    """`scope` and `receive` of a request whose body, read already, is `body`: one message with
    its `Content-Length`, then whatever the client sends next (its disconnect)."""
    headers = [(k, v) for k, v in scope["headers"] if k not in (b"content-length", b"transfer-encoding")]
    headers.append((b"content-length", str(len(body)).encode()))
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return {**scope, "headers": headers}, replay


class BodyLimit:
    """Reads a request's body whole, within `max_bytes` (413 beyond), before the app sees the request.

    Reading first is what makes a body that did not arrive whole (the client went away, or the
    server refused its framing) have no effect: the app is never called for it. It also gives a
    chunked body its `Content-Length`, which Connexion needs to read a body at all.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        chunked = any(name == b"transfer-encoding" for name, _ in scope["headers"])
        if not chunked and not length:
            await self.app(scope, receive, send)
            return
        if self.max_bytes and length is not None and length > self.max_bytes:
            raise BodyTooLarge(self.max_bytes)
        body = await self._read(receive)
        await self.app(*with_body(scope, receive, body), send)

    async def _read(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise BodyIncomplete()
            chunk = message.get("body", b"")
            size += len(chunk)
            if self.max_bytes and size > self.max_bytes:
                raise BodyTooLarge(self.max_bytes)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def depth_problem(text: str | bytes, limit: int) -> str | None:
    """Why `text` (JSON) nests too deeply to be read, or None; cheap for the usual shallow body."""
    if not limit:
        return None
    opening = "[{" if isinstance(text, str) else b"[{"
    if text.count(opening[0]) + text.count(opening[1]) <= limit:  # type: ignore[arg-type]
        return None
    depth = 0
    for _, char in Structure(text if isinstance(text, str) else text.decode("utf-8", "replace")):
        if char in "[{":
            depth += 1
            if depth > limit:
                return f"The JSON body nests deeper than {limit} levels"
        elif char in "]}":
            depth -= 1
    return None


def load_json(text: str | bytes) -> Any:
    """`json.loads` within the serving app's depth bound (the default one outside a request): a
    `BadRequestProblem` beyond it, or for text that is not JSON."""
    runtime = CURRENT_RUNTIME.get()
    limit = (runtime.config if runtime else Config()).max_json_depth
    problem = depth_problem(text, limit)
    if problem:
        raise BadRequestProblem(detail=problem)
    try:
        return json.loads(text, parse_constant=_not_a_number)
    except NotANumber:
        raise BadRequestProblem(detail="Invalid JSON body") from None  # NaN, Infinity: not JSON
    except RecursionError:
        raise BadRequestProblem(detail="The JSON body nests too deeply to be read") from None
    except json.JSONDecodeError:
        # The service's words (`lib/chat/validateChatWorkflow.ts` and its other validators).
        raise BadRequestProblem(detail="Invalid JSON body") from None
    except ValueError as exc:
        # Python refuses to read integers of more than 4,300 digits, which JSON allows.
        raise BadRequestProblem(detail=f"The JSON body cannot be read: {exc}") from None


class NotANumber(ValueError):
    """`NaN`, `Infinity` or `-Infinity`, which Python's JSON reader accepts and JSON does not."""


def _not_a_number(constant: str) -> Any:
    raise NotANumber(constant)
