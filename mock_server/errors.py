"""Domain errors, and the one place that turns any error into the contract's error body.

The store, the generation engine and the handlers raise `MockError` subclasses; Connexion's own
problems (validation, security, routing, media type) and unexpected exceptions are rendered here too,
so every error a client sees is `{"status": "error", "error": "..."}` as `application/json`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException

log = logging.getLogger(__name__)


def error_body(message: str, **extra: Any) -> dict[str, Any]:
    """The contract's error body; `extra` adds fields such as `missing_fields`."""
    return {"status": "error", **extra, "error": message}


class MockError(Exception):
    """An error with a status and a message for the client."""

    status_code = 500
    message = "Internal server error"

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        self.message = message or self.message
        self.extra = extra
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return error_body(self.message, **self.extra)


class BadRequest(MockError):
    status_code = 400
    message = "Bad request"


class InvalidUUID(BadRequest):
    def __init__(self, field: str) -> None:
        super().__init__(f"{field} must be a valid UUID", missing_fields=[])


class MissingCredentials(MockError):
    status_code = 401
    message = "Exactly one of x-api-key or Authorization must be provided"


class UnknownCredentials(MockError):
    """An unknown key: the running service answers with `message`, so both fields are sent."""

    status_code = 401
    message = "Unauthorized"

    def body(self) -> dict[str, Any]:
        return {"status": "error", "error": self.message, "message": self.message}


class Forbidden(MockError):
    status_code = 403
    message = "Forbidden"


class NotFound(MockError):
    status_code = 404
    message = "Not found"


class ChatNotFound(NotFound):
    message = "Chat not found"


class SessionNotFound(NotFound):
    message = "Session not found"


class Conflict(MockError):
    status_code = 409
    message = "Conflict"


class ChatBusy(Conflict):
    message = "Another workflow is already running for this chat"


class StopFailed(MockError):
    status_code = 502
    message = "Failed to stop the workflow"


class StopTimedOut(MockError):
    status_code = 504
    message = "Workflow did not terminate in time"


def error_response(
    status_code: int, message: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> ConnexionResponse:
    return json_error(error_body(message, **extra), status_code, headers)


def json_error(
    body: dict[str, Any], status_code: int, headers: dict[str, str] | None = None
) -> ConnexionResponse:
    return ConnexionResponse(
        status_code=status_code,
        content_type="application/json",
        headers=headers or {},
        body=json.dumps(body),
    )


async def render_mock_error(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, MockError)
    return json_error(exc.body(), exc.status_code)


# Connexion raises these for a request without usable credentials (no header, or an
# `Authorization` that is not `Bearer …`); a key that was sent but is unknown is ours.
_SECURITY_PROBLEMS = {"No authorization token provided", "Invalid authorization header"}


async def render_problem(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, ProblemException)
    if exc.status == 401 and exc.detail in _SECURITY_PROBLEMS:
        return json_error(MissingCredentials().body(), 401)
    if exc.status >= 500:
        log.error("%s: %s", exc.title, exc.detail)
    message = exc.detail or exc.title or "Request failed"
    return error_response(exc.status, str(message), headers=dict(exc.headers or {}))


def http_exception_renderer(
    allowed_methods: Callable[[str], list[str]],
) -> Callable[[ConnexionRequest, Exception], Awaitable[ConnexionResponse]]:
    """Render routing errors; a 405's `Allow` lists every method the document has for the path."""

    async def render(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
        assert isinstance(exc, HTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request.url.path)) or headers.get("Allow", "")
        message = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code)
        return error_response(exc.status_code, message or str(exc.detail), headers=headers)

    return render


async def render_undecodable_body(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """A JSON body that is not UTF-8 is the client's fault; Connexion's validator lets it escape."""
    return error_response(400, "Request body must be UTF-8 encoded JSON", missing_fields=[])


async def render_unexpected(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    log.exception("unexpected error", exc_info=exc)
    return error_response(500, "Internal server error")
