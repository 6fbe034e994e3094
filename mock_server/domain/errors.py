"""The domain's errors: plain exceptions that say what went wrong, in the service's own words.

They carry a message for the client and nothing of HTTP; `mock_server.http.errors` is the one place
that gives each kind its status code and renders it as the contract's error body.
"""

from __future__ import annotations

from collections.abc import Sequence


class DomainError(Exception):
    """A request the service refuses, or an operation it could not complete."""

    message = "Internal server error"
    retry_after: int | None = None
    """Seconds after which the same request may succeed (a passing condition), if any."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.message
        super().__init__(self.message)


class InvalidInput(DomainError):
    """The request is malformed; `missing_fields` names required fields it lacks, if any."""

    message = "Bad request"

    def __init__(self, message: str | None = None, missing_fields: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.missing_fields = list(missing_fields)


class InvalidUUID(InvalidInput):
    def __init__(self, field: str) -> None:
        super().__init__(f"{field} must be a valid UUID")


class Unauthenticated(DomainError):
    """The caller could not be identified."""

    message = "Unauthorized"


class NotExactlyOneCredential(Unauthenticated):
    """Neither or both of the two credentials (`x-api-key`, `Authorization`) were sent."""

    message = "Exactly one of x-api-key or Authorization must be provided"


class UnknownCredentials(Unauthenticated):
    """A credential was sent, but no account holds it."""


class Forbidden(DomainError):
    message = "Forbidden"


class AccountAccessDenied(Forbidden):
    """`?account_id=` names an account the caller may not act for."""

    message = "Access denied to specified account_id"


class NotFound(DomainError):
    message = "Not found"


class ChatNotFound(NotFound):
    message = "Chat not found"


class SessionNotFound(NotFound):
    message = "Session not found"


class BadRequest(DomainError):
    """A request the service refuses with a 400 whose body has no `missing_fields`."""

    message = "Bad request"


class LastChatOfSession(BadRequest):
    message = "Cannot delete the only chat in a session"


class BlankField(BadRequest):
    def __init__(self, field: str) -> None:
        super().__init__(f"{field} cannot be empty")


class InvalidChatId(BadRequest):
    """The id a client chose for a new chat is not one."""

    message = "Invalid chat id"


class PromptOrMessages(BadRequest):
    message = "Exactly one of prompt or messages must be provided"


class OrganizationAccessDenied(Forbidden):
    """`organizationId` names an organization the caller may not act for."""

    message = "Access denied to specified organization_id"


class RunNotFound(NotFound):
    message = "Run not found"


class Conflict(DomainError):
    message = "Conflict"


class ChatIdConflict(Conflict):
    """The id a client chose for a new chat names a chat of another session."""

    message = "Chat ID conflict"


class ChatBusy(Conflict):
    message = "Another workflow is already running for this chat"


class StopFailed(DomainError):
    """The cancel request of a running generation failed; the chat stays generating."""

    message = "Failed to stop the workflow"


class RunUnreadable(DomainError):
    """The chat's slot holds an id whose run cannot be read (a send's claim, a run forgotten)."""

    message = "Failed to read the workflow run"


class StopTimedOut(DomainError):
    """A cancelled generation did not end within the stop timeout; the chat stays generating."""

    message = "Workflow did not terminate in time"


class TooBusy(DomainError):
    """A bound of the mock is reached; the request may be tried again after `retry_after` seconds."""

    message = "The mock is too busy"
    retry_after: int | None = 1


class TooManyGenerations(TooBusy):
    message = "Too many answers are generating at once; try again shortly"


class TooManyChats(TooBusy):
    message = "The mock holds as many chats as it may, and every one of them is busy"


class StoreFull(DomainError):
    """Storing this would pass `--max-store-bytes`, and no idle chat is left to make room."""

    message = (
        "The mock's store holds as many bytes as it may (--max-store-bytes), and every chat that "
        "could make room is busy; try again once an answer ends"
    )
    retry_after: int | None = 1


class SeedTooLarge(StoreFull):
    """A seed whose chats and messages alone pass `--max-store-bytes`: refused before any reset."""

    retry_after = None


class StoreUnavailable(DomainError):
    """The shared store (Redis) cannot be reached; the request may be tried again shortly."""

    message = "The mock's store is unavailable; try again shortly"
    retry_after: int | None = 1


class StreamDropped(Exception):
    """Not an error of a request: a stream of a `drop-stream` run ends here, early, without its
    end (no `finish`, no end-of-stream marker), as a response cut by a time-out does."""
