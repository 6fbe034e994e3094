"""Sessions and their chats: creating, reading, renaming, archiving, deleting and read marks, each
with its checks in the order the service's handlers make them (`lib/sessions/**`).

Every route under `/api/sessions/{sessionId}` checks the session first (404 "Session not found",
then 403 when another account owns it), then the chat within it (404 "Chat not found" when it is
missing or belongs to another session), then the body. What a chat's answer does is the chat
service's (`service.py`); this module never touches a generation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mock_server.domain.city_names import city_title
from mock_server.domain.errors import (
    BlankField,
    ChatIdConflict,
    ChatNotFound,
    Forbidden,
    InvalidChatId,
    InvalidInput,
    InvalidUUID,
    LastChatOfSession,
    OrganizationAccessDenied,
    SessionNotFound,
)
from mock_server.domain.models import (
    DEFAULT_MODEL_ID,
    SESSION_STATUSES,
    Account,
    Chat,
    ChatRemoval,
    Message,
    Session,
    is_uuid,
    js_trim,
    new_id,
    now,
)
from mock_server.domain.store import ChatStore

INITIAL_CHAT_TITLE = "New chat"
"""The title of a session's first chat (`lib/sessions/createSessionHandler.ts`)."""


def require_uuid(value: str, field: str) -> None:
    """A malformed id is 400 "<field> must be a valid UUID" (on the session routes the service's
    database refuses one with a 500, which a mock never answers)."""
    if not is_uuid(value):
        raise InvalidUUID(field)


@dataclass(frozen=True)
class ChatSummary:
    """A chat as a session's list shows it (`lib/sessions/chats/getChatSummaries.ts`)."""

    chat: Chat
    has_unread: bool
    """An answer came after the caller last read the chat (or it never did)."""


@dataclass(frozen=True)
class SessionChanges:
    """A `PATCH /api/sessions/{sessionId}` body; None leaves a field as it is."""

    title: str | None = None
    status: str | None = None
    lines_added: int | None = None
    lines_removed: int | None = None


class Sessions:
    def __init__(self, store: ChatStore, *, max_chats: int = 0) -> None:
        self.store = store
        self.max_chats = max_chats
        """How many chats may be stored (0: no bound); the oldest idle chat makes room for a new one."""

    async def owned_session(self, account: Account, session_id: str) -> Session:
        require_uuid(session_id, "sessionId")
        session = await self.store.get_session(session_id)
        if session is None:
            raise SessionNotFound()
        if session.account_id != account.id:
            raise Forbidden()
        return session

    async def chat_in_session(self, account: Account, session_id: str, chat_id: str) -> Chat:
        """The chat of a `/api/sessions/{sessionId}/chats/{chatId}` route: the session's checks,
        then the chat's (`validateGetSessionChatRequest.ts` and its siblings)."""
        session = await self.owned_session(account, session_id)
        require_uuid(chat_id, "chatId")
        chat = await self.store.get_chat(chat_id)
        if chat is None or chat.session_id != session.id:
            raise ChatNotFound()
        return chat

    # Creating

    async def create_session(
        self,
        account: Account,
        title: str | None = None,
        organization_id: str | None = None,
        artist_id: str | None = None,
        *,
        chat_title: str = INITIAL_CHAT_TITLE,
        model_id: str = DEFAULT_MODEL_ID,
    ) -> tuple[Session, Chat]:
        """A session and its first chat; without a title (or a blank one), a city name the account
        has not used yet (`lib/sessions/resolveSessionTitle.ts`). An `organization_id` must be one
        the account belongs to (`validateCreateSessionBody.ts` hands it to `validateAuthContext`)."""
        if organization_id and not await self.member_of(account.id, organization_id):
            raise OrganizationAccessDenied()
        title = js_trim(title) if title else ""
        if not title:
            title = city_title({s.title for s in await self.store.sessions(account.id)})
        session = Session(
            id=new_id(),
            account_id=account.id,
            title=title,
            organization_id=organization_id,
            artist_id=artist_id,
        )
        # One step: a store with no room for the chat stores neither, and no eviction meanwhile can
        # leave the session without it.
        chat = await self.store.add_chat(
            Chat(id=new_id(), session_id=session.id, title=chat_title, model_id=model_id),
            self.max_chats,
            session,
        )
        return session, chat

    async def create_chat(self, account: Account, session_id: str, chat_id: str | None) -> Chat:
        session = await self.owned_session(account, session_id)
        if chat_id is not None and not is_uuid(chat_id):
            raise InvalidChatId()
        chat = await self.store.add_chat(Chat(id=chat_id or new_id(), session_id=session.id), self.max_chats)
        if chat.session_id != session.id:
            raise ChatIdConflict()
        return chat

    async def member_of(self, account_id: str, organization_id: str) -> bool:
        """Whether the account belongs to the organization (`validateOrganizationAccess`): it is
        the organization's own account, or one the organization's keys act for (`acts_for`)."""
        if account_id == organization_id:
            return True
        organization = next((a for a in await self.store.accounts() if a.id == organization_id), None)
        return organization is not None and account_id in organization.acts_for

    # Reading

    async def session_chats(self, account: Account, session_id: str) -> list[ChatSummary]:
        """The session's chats, oldest first, each with whether the caller has an unread answer."""
        session = await self.owned_session(account, session_id)
        chats = sorted(await self.store.chats(session.id), key=lambda c: c.created_at)
        read = await self.store.read_marks(account.id, [c.id for c in chats])
        return [ChatSummary(c, _unread(c, read.get(c.id))) for c in chats]

    async def session_chat(
        self, account: Account, session_id: str, chat_id: str
    ) -> tuple[Chat, list[Message]]:
        chat = await self.chat_in_session(account, session_id, chat_id)
        return chat, await self.store.messages(chat.id)

    # Changing

    async def update_session(self, account: Account, session_id: str, changes: SessionChanges) -> Session:
        """`PATCH /api/sessions/{sessionId}` (`lib/sessions/patchSessionByIdHandler.ts`): the fields
        given; archiving sets the lifecycle to `archived`, unarchiving (`running`) clears it. With
        nothing to change the session is answered as it is, unstamped."""
        if changes.status is not None and changes.status not in SESSION_STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(SESSION_STATUSES)}")
        await self.owned_session(account, session_id)

        def change(session: Session) -> Session | None:
            updates: dict[str, object] = {
                name: value
                for name, value in (
                    ("title", changes.title),
                    ("status", changes.status),
                    ("lines_added", changes.lines_added),
                    ("lines_removed", changes.lines_removed),
                )
                if value is not None
            }
            if changes.status == "archived" and session.status != "archived":
                updates["lifecycle_state"] = "archived"
            elif changes.status == "running" and session.status == "archived":
                updates["lifecycle_state"] = None
            return replace(session, **updates, updated_at=now()) if updates else None  # type: ignore[arg-type]

        # The change is made on the session as stored at that moment, so a concurrent one is kept.
        updated = await self.store.update_session(session_id, change)
        if updated is None:
            raise SessionNotFound()
        return updated

    async def update_chat(
        self, account: Account, session_id: str, chat_id: str, *, title: str | None, model_id: str | None
    ) -> Chat:
        """Rename a chat or change its model (`lib/sessions/chats/patchSessionChatHandler.ts`),
        each trimmed; the body is checked after the chat, as the service does
        (`validatePatchSessionChatRequest.ts`)."""
        await self.chat_in_session(account, session_id, chat_id)
        title, model_id = _trimmed(title, "title"), _trimmed(model_id, "modelId")
        updated = await self.store.update_chat(chat_id, title=title, model_id=model_id)
        if updated is None:
            raise ChatNotFound()  # deleted meanwhile
        return updated

    async def remove_chat(self, account: Account, session_id: str, chat_id: str) -> str | None:
        """Delete a chat with its messages, never a session's only one
        (`lib/sessions/chats/validateDeleteSessionChatRequest.ts`); the stream id it held then."""
        await self.chat_in_session(account, session_id, chat_id)
        removal, active = await self.store.remove_chat(session_id, chat_id)
        if removal is ChatRemoval.ONLY_CHAT:
            raise LastChatOfSession()
        if removal is ChatRemoval.MISSING:
            raise ChatNotFound()
        return active

    async def mark_read(self, account: Account, session_id: str, chat_id: str) -> None:
        """The caller has read the chat up to now (`lib/sessions/chats/markChatReadHandler.ts`)."""
        await self.chat_in_session(account, session_id, chat_id)
        if not await self.store.mark_read(chat_id, account.id, now()):
            raise ChatNotFound()


def _trimmed(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    trimmed = js_trim(value)
    if not trimmed:
        raise BlankField(field)
    return trimmed


def _unread(chat: Chat, read_at: str | None) -> bool:
    # ISO 8601 in UTC with milliseconds: the text order is the time order.
    answered = chat.last_assistant_message_at
    return answered is not None and (read_at is None or answered > read_at)
