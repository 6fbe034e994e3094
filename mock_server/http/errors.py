"""The one place that turns an error raised inside the app into its status code and the contract's
error body (built by `error_body.py`, as the connection's own refusals are).

Domain errors get their status from `STATUS`; Connexion's own problems (validation, security,
routing, media type) and unexpected exceptions are rendered here too, so every error a client sees
is `{"status": "error", "error": "..."}` as `application/json`, except where the service itself
answers otherwise (`UNLABELLED`, and an operation's `refusedBody`, see `reading`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from connexion.exceptions import (
    BadRequestProblem,
    ExtraParameterProblem,
    ProblemException,
    UnsupportedMediaTypeProblem,
)
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException

from mock_server.domain import errors
from mock_server.http.error_body import error_body
from mock_server.http.journal import Validation, entry_of
from mock_server.http.reading import Reading, RefusedBody

log = logging.getLogger(__name__)

STATUS: dict[type[errors.DomainError], int] = {
    errors.InvalidInput: 400,
    errors.BadRequest: 400,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooBusy: 429,
    errors.StopFailed: 502,
    errors.RunUnreadable: 502,
    errors.StopTimedOut: 504,
    errors.StoreUnavailable: 503,
    errors.StoreFull: 507,
}
"""The status of each kind of domain error; a subclass takes its nearest listed ancestor's."""

# Connexion raises these when a request breaks the document (parameters, body, media type).
_VALIDATION_PROBLEMS = (BadRequestProblem, ExtraParameterProblem, UnsupportedMediaTypeProblem)

# Connexion raises these for a request without usable credentials (no header, or an
# `Authorization` that is not `Bearer …`); a key that was sent but is unknown is ours.
_SECURITY_PROBLEMS = {"No authorization token provided", "Invalid authorization header"}


UNLABELLED: tuple[type[errors.DomainError], ...] = (errors.InvalidChatId, errors.ChatIdConflict)
"""Errors the service answers with `{"error": "..."}` alone, no `status`
(`lib/sessions/chats/validateCreateSessionChatRequest.ts`, `createSessionChatHandler.ts`)."""


def status_of(error: errors.DomainError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


def body_of(error: errors.DomainError) -> dict[str, Any]:
    if isinstance(error, UNLABELLED):
        return {"error": error.message}
    if isinstance(error, errors.InvalidInput):
        return error_body(error.message, missing_fields=error.missing_fields)
    if isinstance(error, errors.UnknownCredentials):
        # The running service answers an unknown key with `message`; both fields keep either
        # kind of client happy.
        return error_body(error.message, message=error.message)
    return error_body(error.message)


def json_error(
    body: dict[str, Any], status_code: int, headers: dict[str, str] | None = None
) -> ConnexionResponse:
    return ConnexionResponse(
        status_code=status_code,
        content_type="application/json",
        headers=headers or {},
        body=json.dumps(body),
    )


def error_response(
    status_code: int, message: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> ConnexionResponse:
    return json_error(error_body(message, **extra), status_code, headers)


def _mark_invalid(request: ConnexionRequest) -> None:
    entry = entry_of(request.scope)
    if entry is not None:
        entry.validation = Validation.FAILED


async def render_domain_error(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, errors.DomainError)
    if isinstance(exc, errors.InvalidInput):
        _mark_invalid(request)
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return json_error(body_of(exc), status_of(exc), headers)


def problem_renderer(
    how_read: Mapping[str, Reading],
) -> Callable[[ConnexionRequest, Exception], Awaitable[ConnexionResponse]]:
    """Render Connexion's problems; a refused body gets its operation's `refusedBody`, if any."""

    async def render(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
        assert isinstance(exc, ProblemException)
        if exc.status == 401 and exc.detail in _SECURITY_PROBLEMS:
            return json_error(body_of(errors.NotExactlyOneCredential()), 401)
        if isinstance(exc, _VALIDATION_PROBLEMS):
            _mark_invalid(request)
        if isinstance(exc, RefusedBody):
            reading = how_read.get(exc.operation_id or "")
            if reading is not None and reading.refused_body is not None:
                return json_error(reading.refused_body, exc.status)
            return error_response(exc.status, str(exc.detail), missing_fields=exc.fields)
        if exc.status >= 500:
            log.error("%s: %s", exc.title, exc.detail)
        message = exc.detail or exc.title or "Request failed"
        return error_response(exc.status, str(message), headers=dict(exc.headers or {}))

    return render


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


async def render_undecodable_body(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """A JSON body that is not UTF-8 is the client's fault; Connexion's validator lets it escape."""
    _mark_invalid(request)
    return error_response(400, "Request body must be UTF-8 encoded JSON", missing_fields=[])


async def render_unexpected(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    log.exception("unexpected error", exc_info=exc)
    return error_response(500, "Internal server error")
