"""How the service reads each operation's request, where its validator departs from Connexion's.

Connexion checks credentials, then parameters and body, refuses a body that is not JSON and answers
a body that breaks its schema with the contract's error body. The service's validators differ by
route, and the served document says how with the extension `x-recoup-request` on the operation:

- `credentials: after-body`: the body is checked before the credentials, so a bad body sent without
  a key is 400, not 401 (`lib/chat/validateChatWorkflow.ts`, `lib/chat/runs/validateChatRunRequest.ts`,
  `lib/sessions/validateCreateSessionBody.ts` of `recoupable/api`).
- `readAsEmpty`: a body that is not JSON (`malformed`), or not a JSON object (`not-an-object`), is
  read as `{}` (`lib/networking/safeParseJson.ts`; `validateCreateSessionChatRequest.ts`).
- `refusedBody`: what a body that breaks its schema is answered with, in place of the contract's
  error body (`{"error": "Invalid chat id"}`, `validateCreateSessionChatRequest.ts`).

A schema in a request body may carry `x-recoup-error`, the service's message when it refuses the value
("artistId must be a valid UUID"); a refused body's `missing_fields` is the path to the value.

Connexion's layers stay as they are; `CredentialsAfterBody` is its security layer again, placed after
validation, for the operations that say so (the first one lets them through).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connexion.exceptions import BadRequestProblem
from connexion.middleware.abstract import ROUTING_CONTEXT
from connexion.middleware.security import SecurityAPI, SecurityMiddleware, SecurityOperation
from starlette.types import ASGIApp, Receive, Scope, Send

from mock_server.config import Config
from mock_server.http.limits import depth_problem, with_body
from mock_server.http.runtime import CURRENT_RUNTIME
from mock_server.http.spec import Document

EXTENSION = "x-recoup-request"
ERROR_MESSAGE = "x-recoup-error"
"""On a schema: the message a body this schema refuses is answered with (the service's words)."""


@dataclass(frozen=True)
class Reading:
    """How one operation's request is read."""

    body_before_credentials: bool = False
    empty_when_malformed: bool = False
    empty_when_not_an_object: bool = False
    refused_body: dict[str, Any] | None = None

    @property
    def reads_some_body_as_empty(self) -> bool:
        return self.empty_when_malformed or self.empty_when_not_an_object

    def read(self, body: bytes, max_depth: int, charset: str = "utf-8") -> bytes:
        """`body` as the service reads it (`request.json()`): decoded (as UTF-8 unless its
        Content-Type names a charset Connexion will decode it with), a byte order mark dropped and
        bad bytes replaced, and `{}` for one it reads as empty; in the same charset. A body beyond
        the mock's depth bound is left for validation to refuse, as on every route."""
        if not self.reads_some_body_as_empty:
            return body
        try:
            text = body.decode(charset, errors="replace").removeprefix("\ufeff")
        except LookupError:
            charset = "utf-8"
            text = body.decode(charset, errors="replace").removeprefix("\ufeff")
        if depth_problem(text, max_depth):
            return body
        try:
            # Read as JSON.parse reads: any number (Python refuses integers of 4,300 digits), no NaN.
            data = json.loads(text, parse_constant=_refuse, parse_int=_number, parse_float=_number)
        except (ValueError, RecursionError):
            return "{}".encode(charset)
        if self.empty_when_not_an_object and not isinstance(data, dict):
            return "{}".encode(charset)
        return text.encode(charset)


def _charset_of(scope: Scope) -> str:
    label = next((v for k, v in scope["headers"] if k == b"content-type"), b"").decode("latin-1")
    for parameter in label.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return "utf-8"


def _number(_text: str) -> int:
    return 0


def _refuse(constant: str) -> Any:
    raise ValueError(constant)  # NaN and Infinity are not JSON, as JSON.parse says


def readings(document: Document) -> dict[str, Reading]:
    """Each operation's `Reading`, by operation id, for the operations that declare one."""
    found: dict[str, Reading] = {}
    for item in document.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict) and EXTENSION in operation:
                found[operation["operationId"]] = _reading(operation["operationId"], operation[EXTENSION])
    return found


_EMPTY_WHEN = {"malformed", "not-an-object"}


def _reading(operation_id: str, declared: Mapping[str, Any]) -> Reading:
    unknown = declared.keys() - {"credentials", "readAsEmpty", "refusedBody"}
    empty_when = set(declared.get("readAsEmpty", []))
    credentials = declared.get("credentials", "before-body")
    refused = declared.get("refusedBody")
    if unknown or empty_when - _EMPTY_WHEN or credentials not in ("before-body", "after-body"):
        raise ValueError(f"{operation_id}: {EXTENSION} cannot be read: {dict(declared)}")
    if refused is not None and not isinstance(refused, dict):
        raise ValueError(f"{operation_id}: {EXTENSION}.refusedBody must be an object")
    return Reading(
        body_before_credentials=credentials == "after-body",
        empty_when_malformed="malformed" in empty_when,
        empty_when_not_an_object="not-an-object" in empty_when,
        refused_body=refused,
    )


class RefusedBody(BadRequestProblem):  # type: ignore[misc]  # Connexion ships no type information
    """A body of `operation_id` that breaks its schema (not a parameter, not unreadable JSON);
    `fields` is the path to what was refused."""

    def __init__(self, detail: str, operation_id: str | None, fields: list[str] | None = None) -> None:
        super().__init__(detail=detail)
        self.operation_id = operation_id
        self.fields = fields or []


def operation_id_of(scope: Mapping[str, Any]) -> str | None:
    routing = scope.get("extensions", {}).get(ROUTING_CONTEXT, {})
    operation_id = routing.get("operation_id")
    return operation_id if isinstance(operation_id, str) else None


def without_credentials_first(view: Document, body_first: set[str]) -> dict[str, Any]:
    """Take the security of the `body_first` operations out of Connexion's `view` (its security
    layer lets them through) and return it, by operation id, for `CredentialsAfterBody`."""
    moved: dict[str, Any] = {}
    for item in view.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict) and operation.get("operationId") in body_first:
                moved[operation["operationId"]] = operation.get("security", view.get("security", []))
                operation["security"] = []
    return moved


class _AfterBodyAPI(SecurityAPI):  # type: ignore[misc]
    requirements: Mapping[str, Any] = {}

    def make_operation(self, operation: Any) -> SecurityOperation:
        return SecurityOperation(
            next_app=self.next_app,
            security_handler_factory=self.security_handler_factory,
            security=self.requirements.get(operation.operation_id, []),
            security_schemes=operation.security_schemes,
        )


class CredentialsAfterBody(SecurityMiddleware):  # type: ignore[misc]
    """Connexion's security layer for the operations whose body is checked first; it sits after
    request validation, and every other operation passes it untouched."""

    def __init__(self, app: ASGIApp, requirements: Mapping[str, Any]) -> None:
        super().__init__(app)
        self.api_cls = type("AfterBodyAPI", (_AfterBodyAPI,), {"requirements": dict(requirements)})


class ReadAsEmpty:
    """Gives Connexion the body of an operation that reads a malformed one as `{}` as the service
    reads it (see `Reading.read`), before it is validated."""

    def __init__(self, app: ASGIApp, readings: Mapping[str, Reading]) -> None:
        self.app = app
        self.readings = {k: reading for k, reading in readings.items() if reading.reads_some_body_as_empty}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reading = self.readings.get(operation_id_of(scope) or "") if scope["type"] == "http" else None
        if reading is None:
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client left before its body was read; nothing is handled.
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        runtime = CURRENT_RUNTIME.get()
        max_depth = (runtime.config if runtime else Config()).max_json_depth
        read = reading.read(bytes(body), max_depth, _charset_of(scope)) if body else b""
        await self.app(*with_body(scope, receive, read), send)
