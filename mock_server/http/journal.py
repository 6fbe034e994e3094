"""The request journal: what the mock received and how it answered, so an app's test can assert it.

`JournalMiddleware` sits outermost in the stack and records every request outside the admin API,
CORS preflights included: method, path, query, headers (credentials redacted), a body excerpt, the
status, the operation it matched and whether it passed the contract's validation (the error
renderers mark what failed it; `PassedValidation`, just inside Connexion's validation, what got
through). Entries are kept in a bounded deque, newest last; an entry is visible as soon as the
request arrives, so a test can see a streamed answer that is still running.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import time
from collections import deque
from collections.abc import Iterable, MutableMapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ENTRY_KEY = "recoup_mock.journal_entry"
BODY_EXCERPT = 2048
"""Bytes of a request body (and of a JSON answer) an entry keeps."""
HEADER_EXCERPT = 1024
"""Characters of one header value an entry keeps."""
QUERY_EXCERPT = 2048
REDACTED = "<redacted>"
REDACTED_HEADERS = frozenset(
    {"x-api-key", "authorization", "cookie", "proxy-authorization", "x-mock-admin-token"}
)


class Validation:
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    """Not validated: a preflight, an unrouted path, a rejected credential or a chosen response."""


@dataclass
class Entry:
    id: int
    received_at: str
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: str
    body_truncated: bool
    body_read: bool = False
    """Whether the mock read the body (not when it refused the credentials or chose the answer)."""
    status: int | None = None
    operation_id: str | None = None
    validation: str = Validation.SKIPPED
    error: str | None = None
    preflight: bool = False
    chosen: str | None = None
    """The `Prefer` choice that produced the response, e.g. `code=404`."""
    duration_ms: float | None = None
    _started: float = field(default_factory=time.monotonic, repr=False)
    _response: bytearray = field(default_factory=bytearray, repr=False)
    _json_response: bool = field(default=False, repr=False)

    def as_json(self) -> dict[str, Any]:
        renamed = {
            "received_at": "time",
            "operation_id": "operationId",
            "body_truncated": "bodyTruncated",
            "body_read": "bodyRead",
            "duration_ms": "durationMs",
        }
        return {renamed.get(k, k): v for k, v in asdict(self).items() if not k.startswith("_")}

    def finish(self) -> None:
        self.duration_ms = round((time.monotonic() - self._started) * 1000, 1)
        if self.status is not None and self.status >= 400:
            self.error = _error_message(bytes(self._response)) if self._json_response else None


def _error_message(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict):
        message = data.get("error") or data.get("message")
        return str(message) if message is not None else None
    return None


@dataclass(frozen=True)
class Filter:
    method: str | None = None
    path: str | None = None
    """Exact path, or a glob such as `/api/chat/*/stop`."""
    status: int | None = None
    operation_id: str | None = None
    validation: str | None = None
    since: int | None = None
    """Only entries with a larger id (poll with the last id seen)."""
    since_time: datetime | None = None
    limit: int | None = None

    def matches(self, entry: Entry) -> bool:
        return (
            (self.method is None or entry.method == self.method.upper())
            and (self.path is None or fnmatch.fnmatchcase(entry.path, self.path))
            and (self.status is None or entry.status == self.status)
            and (self.operation_id is None or entry.operation_id == self.operation_id)
            and (self.validation is None or entry.validation == self.validation)
            and (self.since is None or entry.id > self.since)
            and (self.since_time is None or datetime.fromisoformat(entry.received_at) >= self.since_time)
        )


class Journal:
    def __init__(self, size: int) -> None:
        self._entries: deque[Entry] = deque(maxlen=size)
        self._ids = itertools.count(1)

    def record(
        self,
        method: str,
        path: str,
        query: str,
        headers: Iterable[tuple[str, str]],
    ) -> Entry:
        entry = Entry(
            id=next(self._ids),
            received_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            method=method,
            path=path[:QUERY_EXCERPT],
            query=query[:QUERY_EXCERPT],
            headers={k: REDACTED if k in REDACTED_HEADERS else v[:HEADER_EXCERPT] for k, v in headers},
            body="",
            body_truncated=False,
        )
        self._entries.append(entry)
        return entry

    def entries(self, query: Filter | None = None) -> list[Entry]:
        query = query or Filter()
        found = [e for e in self._entries if query.matches(e)]
        return found[-query.limit :] if query.limit else found

    def clear(self) -> None:
        self._entries.clear()


def entry_of(scope: MutableMapping[str, Any]) -> Entry | None:
    """The journal entry of the request in `scope` (None for requests that are not journalled)."""
    return scope.get(ENTRY_KEY)


class PassedValidation:
    """Marks the journal entry of every request that got through Connexion's validation.

    Sits just inside the validation layer; a body that fails validation later, when the handler
    reads it, is marked failed again by the error renderer.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        entry = entry_of(scope)
        # Connexion passes requests it could not route on too; only an operation's were validated.
        routed = scope.get("extensions", {}).get("connexion_routing", {}).get("operation_id")
        if entry is not None and routed:
            entry.validation = Validation.PASSED
        await self.app(scope, receive, send)


class JournalMiddleware:
    """Records each request; inner layers fill in what only they know through `entry_of(scope)`."""

    def __init__(self, app: ASGIApp, journal: Journal, exclude_prefix: str) -> None:
        self.app = app
        self.journal = journal
        self.exclude_prefix = exclude_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == self.exclude_prefix or path.startswith(self.exclude_prefix + "/"):
            await self.app(scope, receive, send)
            return
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        query = scope.get("query_string", b"").decode("latin-1")
        entry = self.journal.record(scope["method"], path, query, headers)
        # The body is recorded as the app reads it, never read for the journal's sake: a refused
        # credential must not make the mock wait for, or hold, a body it will not use.
        receive = _recording(receive, entry)
        names = {k for k, _ in headers}
        entry.preflight = (
            scope["method"] == "OPTIONS" and {"origin", "access-control-request-method"} <= names
        )
        scope[ENTRY_KEY] = entry

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry.status = message["status"]
                content_type = dict(message.get("headers", [])).get(b"content-type", b"")
                entry._json_response = content_type.startswith(b"application/json")
            elif message["type"] == "http.response.body" and entry._json_response:
                room = BODY_EXCERPT - len(entry._response)
                if room > 0:
                    entry._response.extend(message.get("body", b"")[:room])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            entry.finish()


def _recording(receive: Receive, entry: Entry) -> Receive:
    """`receive`, keeping the first `BODY_EXCERPT` bytes of the body in `entry` as they pass."""
    excerpt = bytearray()

    async def recording_receive() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            entry.body_read = True
            chunk = message.get("body", b"")
            room = BODY_EXCERPT - len(excerpt)
            if room > 0 and chunk:
                excerpt.extend(chunk[:room])
                entry.body = excerpt.decode("utf-8", errors="replace")
            if len(chunk) > room or (len(excerpt) >= BODY_EXCERPT and message.get("more_body", False)):
                entry.body_truncated = True
        return message

    return recording_receive
