"""The mock's state as plain immutable records: accounts, sessions, chats, messages and generations.

Records are frozen so that a caller holding one cannot change stored state behind the store's back;
every change goes through the store's methods.
"""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mock_server.domain.answers import Answer

Message = dict[str, Any]
"""An AI SDK `UIMessage`: `{"id", "role", "parts": [...], "metadata"?}`."""

Chunk = dict[str, Any]
"""One AI SDK UI message stream chunk, e.g. `{"type": "text-delta", "id": "...", "delta": "..."}`."""

DEFAULT_MODEL_ID = "recoup-mock-1"
PENDING_PREFIX = "pending-"


def new_id() -> str:
    return str(uuid.uuid4())


def new_claim() -> str:
    """A placeholder `active_stream_id`: the chat is claimed for a run that has not started yet."""
    return f"{PENDING_PREFIX}{new_id()}"


def is_claim(stream_id: str) -> bool:
    """Whether an `active_stream_id` is a claim (`new_claim`) rather than a running generation's id."""
    return stream_id.startswith(PENDING_PREFIX)


_JS_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
"""What JavaScript's `String.prototype.trim` removes (ECMA-262 WhiteSpace and LineTerminator), which
is not Python's `str.strip` (that removes U+001C to U+001F and U+0085 too, and not U+FEFF)."""


def js_trim(text: str) -> str:
    """`text.trim()` as the service's JavaScript reads it."""
    return text.strip(_JS_WHITESPACE)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_RFC_9562_UUID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}"
    r"|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff"
)


def is_uuid(value: str) -> bool:
    """The hyphenated 8-4-4-4-12 form the service accepts (`uuid.UUID` also reads braces, URNs,
    bare hex, a sign or underscores, which the service refuses)."""
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


def is_strict_uuid(value: str) -> bool:
    """A UUID as zod 4's `z.string().uuid()` reads it, which the service checks a chat id of
    `/api/chat/{chatId}/…` with (`lib/chat/validateChatOwnership.ts`): RFC 9562, version digit
    1-8, variant 8, 9, a or b, or else the nil or the max UUID (lower case)."""
    return isinstance(value, str) and _RFC_9562_UUID.fullmatch(value) is not None


class Fault(enum.StrEnum):
    """Ways a generation can misbehave, as the running service's workflows sometimes do."""

    IGNORE_CANCEL = "ignore-cancel"
    """Keeps generating after a stop: the stop waits, then answers 504."""
    CANCEL_FAILS = "cancel-fails"
    """The cancel request itself fails: the stop answers 502."""
    BREAK_STREAM = "break-stream"
    """The run fails half-way: an `error` chunk, then `finish`."""
    DROP_STREAM = "drop-stream"
    """Every HTTP stream of the run ends early, without `finish`, while the run goes on (as a
    serverless function's time-out ends a response): after each chunk a model's pause follows
    (`start-step`, `tool-input-available`), so that a client must reconnect to read it whole."""


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self is not RunStatus.RUNNING


@dataclass(frozen=True)
class Account:
    id: str
    api_keys: tuple[str, ...]
    acts_for: tuple[str, ...] = ()
    """Other accounts its keys may act for with `?account_id=` (an organization's members)."""

    def may_act_for(self, account_id: str) -> bool:
        return account_id == self.id or account_id in self.acts_for


SESSION_STATUSES = ("running", "completed", "failed", "archived")
"""A session's `status` (`lib/sessions/validatePatchSessionBody.ts`); a new one is `running`."""


@dataclass(frozen=True)
class Session:
    id: str
    account_id: str
    title: str
    organization_id: str | None = None
    artist_id: str | None = None
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)
    status: str = "running"
    lines_added: int | None = None
    lines_removed: int | None = None
    lifecycle_state: str | None = "provisioning"
    """As the service inserts a session (`lib/sessions/buildSessionInsertRow.ts`); `archived`
    while archived (`lib/sessions/lifecycleStatePatches.ts`)."""


class ChatRemoval(enum.Enum):
    """What `ChatStore.remove_chat` did."""

    REMOVED = "removed"
    MISSING = "missing"
    """No such chat in that session."""
    ONLY_CHAT = "only-chat"
    """The session's only chat, which is kept."""


@dataclass(frozen=True)
class Chat:
    id: str
    session_id: str
    title: str = "New chat"
    model_id: str = DEFAULT_MODEL_ID
    active_stream_id: str | None = None
    last_assistant_message_at: str | None = None
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)
    answer: Answer | None = None
    """The scripted answer to every message sent to this chat; None: the server's default."""

    @property
    def is_streaming(self) -> bool:
        return self.active_stream_id is not None


@dataclass(frozen=True)
class Run:
    """One generation of an assistant message for a chat."""

    id: str
    chat_id: str
    message_id: str
    answer: Answer
    fault: Fault | None = None
    status: RunStatus = RunStatus.RUNNING
    model_id: str = DEFAULT_MODEL_ID
