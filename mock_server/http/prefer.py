"""Chosen responses and latency, as Prism's users know them, for the contract's operations.

`Prefer: code=404` answers the matched operation's documented 404 with a body valid for it (the
contract's error body and the message the service would give); `Prefer: delay=1500` waits 1.5 s
before answering; both combine (`Prefer: code=504, delay=8000`). An unknown preference or a status
the operation does not document is a 400 naming what is possible. A chosen response skips
credentials and validation and changes no state: it needs no set-up, which is its point.

`ChosenResponses` runs after routing (it needs the matched operation) and before security.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from mock_server.domain import errors
from mock_server.domain.answers import text_only
from mock_server.domain.chunks import answer_chunks
from mock_server.http.error_body import error_body
from mock_server.http.errors import STATUS, body_of
from mock_server.http.journal import entry_of
from mock_server.http.spec import Document, deref
from mock_server.http.sse import STREAM_HEADERS, sse_text

PREFERENCES = ("code", "delay")
MAX_DELAY_MS = 120_000
CHOSEN_RUN_ID = "run_chosen"
CHOSEN_TEXT = "This answer was chosen with a Prefer header; nothing was generated."
_ROUTING = "connexion_routing"
_PREFERENCE = re.compile(
    r'^\s*([A-Za-z0-9!#$%&\'*+.^_`|~-]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^;\s]*))?\s*(?:;.*)?$'
)


@dataclass(frozen=True)
class Preference:
    code: int | None = None
    delay: float = 0.0
    """Seconds."""

    def describe(self) -> str:
        parts = [f"code={self.code}"] if self.code is not None else []
        if self.delay:
            parts.append(f"delay={round(self.delay * 1000)}")
        return ", ".join(parts)


def parse_prefer(values: list[str]) -> Preference:
    """Parse `Prefer` header values (RFC 7240 syntax); raise `errors.InvalidInput` on anything unknown."""
    found: dict[str, str] = {}
    for value in values:
        for item in _split(value):
            match = _PREFERENCE.match(item)
            if match is None:
                raise _bad(f"Prefer: cannot parse {item.strip()!r}")
            name, raw = match.group(1).lower(), (match.group(2) or "").strip('"')
            if name not in PREFERENCES:
                raise _bad(f"Prefer: unsupported preference {name!r} (supported: {', '.join(PREFERENCES)})")
            found[name] = raw
    code = None
    if "code" in found:
        if not re.fullmatch(r"[1-5][0-9]{2}", found["code"]):
            raise _bad(f"Prefer: code={found['code']!r} is not an HTTP status code")
        code = int(found["code"])
    delay = 0.0
    if "delay" in found:
        if not re.fullmatch(r"[0-9]{1,9}", found["delay"]) or int(found["delay"]) > MAX_DELAY_MS:
            raise _bad(f"Prefer: delay={found['delay']!r} must be milliseconds from 0 to {MAX_DELAY_MS}")
        delay = int(found["delay"]) / 1000
    return Preference(code, delay)


def _split(value: str) -> Iterator[str]:
    """Split on commas outside quoted strings."""
    for part in re.findall(r'(?:[^,"]|"(?:[^"\\]|\\.)*")+', value):
        if part.strip():
            yield part


def _bad(message: str) -> errors.InvalidInput:
    return errors.InvalidInput(message)


@dataclass(frozen=True)
class Chosen:
    status: int
    headers: dict[str, str]
    body: bytes


class ResponseCatalogue:
    """The documented responses of each operation of a document, rendered as a mock answers them."""

    def __init__(self, document: Document) -> None:
        self.document = document
        self.operations: dict[str, dict[str, Any]] = {}
        self.paths: dict[str, str] = {}
        for path, path_item in document.get("paths", {}).items():
            for operation in path_item.values():
                if isinstance(operation, dict) and "operationId" in operation:
                    self.operations[operation["operationId"]] = operation
                    self.paths[operation["operationId"]] = path

    def documented(self, operation_id: str) -> list[int]:
        responses = self.operations[operation_id].get("responses", {})
        return sorted(int(code) for code in responses if code.isdigit())

    def chosen(self, operation_id: str, code: int) -> Chosen:
        documented = self.documented(operation_id)
        if code not in documented:
            listed = ", ".join(map(str, documented))
            raise _bad(
                f"Prefer: code={code} is not a documented response of {operation_id} (documented: {listed})"
            )
        operation = self.operations[operation_id]
        response = self._resolve(operation["responses"][str(code)])
        headers = {
            name: str(self._example(self._resolve(header).get("schema", {"type": "string"}), name))
            for name, header in response.get("headers", {}).items()
        }
        content = response.get("content", {})
        if not content:
            return Chosen(code, headers, b"")
        media_type, media = next(iter(content.items()))
        headers["content-type"] = media_type
        if media_type == "text/event-stream":
            headers.update(STREAM_HEADERS)
            return Chosen(
                code, headers, sse_text(answer_chunks("msg_chosen", text_only(CHOSEN_TEXT))).encode()
            )
        if code >= 400:
            body: Any = _error_body(operation_id, self.paths[operation_id], code)
        elif "example" in media:
            body = media["example"]
        elif media.get("examples"):
            body = self._resolve(next(iter(media["examples"].values()))).get("value")
        else:
            body = self._example(media.get("schema", {}))
        return Chosen(code, headers, json.dumps(body).encode())

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        resolved: dict[str, Any] = deref(self.document, node)
        return resolved

    def _example(self, schema: dict[str, Any], name: str = "") -> Any:
        """A value valid for `schema`, preferring the schema's own examples."""
        schema = self._resolve(schema)
        for key in ("example", "const", "default"):
            if key in schema:
                return schema[key]
        if schema.get("examples"):
            return schema["examples"][0]
        if schema.get("enum"):
            return schema["enum"][0]
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for sub in schema["allOf"]:
                merged.update(self._example(sub))
            return merged
        for key in ("oneOf", "anyOf"):
            if key in schema and "type" not in schema and "properties" not in schema:
                return self._example(schema[key][0])
        kind = schema.get("type", "object" if "properties" in schema else "string")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "object":
            return {prop: self._example(sub, prop) for prop, sub in schema.get("properties", {}).items()}
        if kind == "array":
            return [self._example(schema.get("items", {}))] if schema.get("minItems") else []
        if kind in ("integer", "number"):
            return schema.get("minimum", 0)
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return _string_example(schema.get("format"), name)


def _string_example(fmt: str | None, name: str) -> str:
    if fmt == "uuid":
        return "00000000-0000-4000-8000-000000000000"
    if fmt == "date-time":
        return "2026-01-01T00:00:00.000Z"
    if name == "x-workflow-run-id":
        return CHOSEN_RUN_ID
    return "string"


def _error_body(operation_id: str, path: str, code: int) -> dict[str, Any]:
    """The error body the service gives for `code` on this operation, with the service's message."""
    subject = "chatId" if "{chatId}" in path else "sessionId" if "{sessionId}" in path else None
    error: errors.DomainError
    if code == 400:
        error = errors.InvalidUUID(subject) if subject else errors.InvalidInput()
    elif code == 401:
        error = errors.NotExactlyOneCredential()
    elif code == 404:
        error = errors.SessionNotFound() if subject == "sessionId" else errors.ChatNotFound()
    elif code == 409 and operation_id == "sendChatMessage":
        error = errors.ChatBusy()
    else:
        kinds = [kind for kind, status in STATUS.items() if status == code]
        if not kinds:
            return error_body("Internal server error")
        error = kinds[0]()
    return body_of(error)


class ChosenResponses:
    """Applies `Prefer` and the configured latency to the contract's operations."""

    def __init__(self, app: ASGIApp, document: Document, latency: float = 0.0) -> None:
        self.app = app
        self.catalogue = ResponseCatalogue(document)
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        operation_id = scope.get("extensions", {}).get(_ROUTING, {}).get("operation_id")
        if scope["type"] != "http" or operation_id not in self.catalogue.operations:
            await self.app(scope, receive, send)
            return
        entry = entry_of(scope)
        if entry is not None:
            entry.operation_id = operation_id
        values = Headers(scope=scope).getlist("prefer")
        preference = parse_prefer(values) if values else Preference()
        if self.latency or preference.delay:
            await asyncio.sleep(self.latency + preference.delay)
        if preference.code is None:
            await self.app(scope, receive, send)
            return
        chosen = self.catalogue.chosen(operation_id, preference.code)
        if entry is not None:
            entry.chosen = preference.describe()
        # RFC 7240: the answer says it is the one asked for, not what the mock's state would give.
        headers = {**chosen.headers, "preference-applied": preference.describe()}
        response = Response(chosen.body, chosen.status, headers=headers)
        await response(scope, receive, send)
