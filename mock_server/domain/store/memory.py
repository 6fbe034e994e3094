"""The in-memory store: one process, state in dicts; its runs are `memory_runs`.

Every method runs without awaiting between reading and writing state, so each is atomic on the
event loop; that is what makes `swap_active_stream` and the bounded `add_chat` safe under
concurrent requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from mock_server.domain.answers import Answer
from mock_server.domain.errors import TooManyChats
from mock_server.domain.models import Account, Chat, ChatRemoval, Message, Session, now
from mock_server.domain.store.memory_runs import MemoryRuns
from mock_server.domain.store.space import Space, chat_size, message_size


class MemoryStore(MemoryRuns):
    """`ChatStore` kept in this process's memory, its chats and messages within `max_bytes`."""

    shared = False

    def __init__(self, max_bytes: int = 0) -> None:
        self._max_bytes = max_bytes
        self._empty()
        self._seeded: str | None = None
        self._seed: dict[str, Any] | None = None
        self._loading: asyncio.Event | None = None
        self._default_answer: Answer | None = None

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        self._max_bytes = self._space.budget = value

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def _empty(self) -> None:
        self._accounts: dict[str, Account] = {}
        self._key_owner: dict[str, str] = {}
        self._sessions: dict[str, Session] = {}
        self._chats: dict[str, Chat] = {}
        # Indexes, so a list costs what it returns, not what is stored.
        self._sessions_of: dict[str, list[str]] = {}
        self._chats_of: dict[str, list[str]] = {}
        self._messages: dict[str, list[Message]] = {}
        self._reads: dict[str, dict[str, str]] = {}
        """Per chat, when each account last read it."""
        self._empty_runs()
        self._space = Space(self._max_bytes)

    async def add_account(self, account: Account) -> None:
        self._accounts[account.id] = account
        for key in account.api_keys:
            self._key_owner[key] = account.id

    async def account_for_key(self, api_key: str) -> Account | None:
        account_id = self._key_owner.get(api_key)
        return self._accounts.get(account_id) if account_id else None

    async def accounts(self) -> list[Account]:
        return list(self._accounts.values())

    async def add_session(self, session: Session) -> None:
        previous = self._sessions.get(session.id)
        if previous is not None and previous.account_id != session.account_id:
            self._sessions_of[previous.account_id].remove(session.id)
        if previous is None or previous.account_id != session.account_id:
            self._sessions_of.setdefault(session.account_id, []).append(session.id)
        self._sessions[session.id] = session

    def _forget_session(self, session_id: str) -> None:
        session = self._sessions.pop(session_id)
        self._sessions_of[session.account_id].remove(session_id)
        del self._chats_of[session_id]

    async def get_session(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    async def update_session(
        self, session_id: str, change: Callable[[Session], Session | None]
    ) -> Session | None:
        session = self._sessions.get(session_id)
        if session is None:
            return None
        changed = change(session)
        if changed is not None:
            self._sessions[session_id] = session = changed
        return session

    async def sessions(self, account_id: str) -> list[Session]:
        return [self._sessions[s] for s in self._sessions_of.get(account_id, [])]

    async def add_chat(self, chat: Chat, max_chats: int = 0, session: Session | None = None) -> Chat:
        # No await from the count to the add: one step on the event loop.
        stored = self._chats.get(chat.id)
        if stored is not None:
            return stored
        size = chat_size(chat)
        doomed = self._space.to_free_for(size, chat.id)
        if max_chats and len(self._chats) - len(doomed) >= max_chats:
            longest_idle = next((c for c in self._space.idle() if c not in doomed), None)
            if longest_idle is None:
                raise TooManyChats()
            doomed.append(longest_idle)
        for chat_id in doomed:
            self._evict(chat_id, keeping=chat.session_id)
        if session is not None:
            await self.add_session(session)
        self._chats[chat.id] = chat
        self._chats_of.setdefault(chat.session_id, []).append(chat.id)
        self._messages[chat.id] = []
        self._space.add(chat.id, size, idle=chat.active_stream_id is None)
        return chat

    async def chat_count(self) -> int:
        return len(self._chats)

    async def bytes_used(self) -> int:
        return self._space.used

    def _evict(self, chat_id: str, keeping: str | None = None) -> None:
        """Forget the chat, and its session when it was the last chat, unless that is `keeping`
        (the session a new chat is added to)."""
        chat = self._chats[chat_id]
        self._forget_chat(chat)
        if not self._chats_of[chat.session_id] and chat.session_id != keeping:
            self._forget_session(chat.session_id)

    def _forget_chat(self, chat: Chat) -> None:
        del self._chats[chat.id]
        self._chats_of[chat.session_id].remove(chat.id)
        self._messages.pop(chat.id, None)
        self._reads.pop(chat.id, None)
        self._space.forget(chat.id)

    async def update_chat(
        self, chat_id: str, *, title: str | None = None, model_id: str | None = None
    ) -> Chat | None:
        chat = self._chats.get(chat_id)
        if chat is None:
            return None
        changed = replace(
            chat, title=title or chat.title, model_id=model_id or chat.model_id, updated_at=now()
        )
        self._make_room(chat_id, chat_size(changed) - chat_size(chat))
        self._chats[chat_id] = changed
        return changed

    def _make_room(self, chat_id: str, delta: int) -> None:
        """Evict what the budget needs for `delta` more bytes in the chat, then count them."""
        for doomed in self._space.to_free_for(delta, chat_id):
            self._evict(doomed)
        self._space.resize(chat_id, delta)

    async def remove_chat(self, session_id: str, chat_id: str) -> tuple[ChatRemoval, str | None]:
        chat = self._chats.get(chat_id)
        if chat is None or chat.session_id != session_id:
            return ChatRemoval.MISSING, None
        if len(self._chats_of[session_id]) <= 1:
            return ChatRemoval.ONLY_CHAT, None
        self._forget_chat(chat)
        return ChatRemoval.REMOVED, chat.active_stream_id

    async def mark_read(self, chat_id: str, account_id: str, at: str) -> bool:
        if chat_id not in self._chats:
            return False
        self._reads.setdefault(chat_id, {})[account_id] = at
        return True

    async def read_marks(self, account_id: str, chat_ids: Sequence[str]) -> dict[str, str]:
        return {c: self._reads[c][account_id] for c in chat_ids if account_id in self._reads.get(c, {})}

    async def get_chat(self, chat_id: str) -> Chat | None:
        return self._chats.get(chat_id)

    async def chat_and_owner(self, chat_id: str) -> tuple[Chat | None, str | None]:
        chat = self._chats.get(chat_id)
        session = self._sessions.get(chat.session_id) if chat else None
        return chat, session.account_id if session else None

    async def chats(self, session_id: str) -> list[Chat]:
        return [self._chats[c] for c in self._chats_of.get(session_id, [])]

    async def append_message(self, chat_id: str, message: Message, keep_last: int = 0) -> None:
        self._append(chat_id, message, keep_last)

    def _append(self, chat_id: str, message: Message, keep_last: int) -> None:
        history = self._messages.get(chat_id)
        if history is None:
            return
        dropped = history[: max(0, len(history) + 1 - keep_last)] if keep_last else []
        self._make_room(chat_id, message_size(message) - sum(map(message_size, dropped)))
        history.append(message)
        del history[: len(dropped)]
        chat = self._chats[chat_id]
        stamp = now()
        if message.get("role") == "assistant":
            chat = replace(chat, last_assistant_message_at=stamp)
        self._chats[chat_id] = replace(chat, updated_at=stamp)

    async def messages(self, chat_id: str) -> list[Message]:
        return list(self._messages.get(chat_id, []))

    async def swap_active_stream(
        self,
        chat_id: str,
        expected: str | None,
        new: str | None,
        *,
        adding: Message | None = None,
        keep_last: int = 0,
    ) -> bool:
        chat = self._chats.get(chat_id)
        if chat is None or chat.active_stream_id != expected:
            return False
        if adding is not None:
            self._append(chat_id, adding, keep_last)  # `StoreFull` before it changes anything
        self._chats[chat_id] = replace(self._chats[chat_id], active_stream_id=new, updated_at=now())
        self._space.set_idle(chat_id, new is None)
        return True

    async def begin_seeding(self, digest: str, *, replace: bool = False) -> str | None:
        while self._loading is not None:
            await self._loading.wait()
        if self._seeded is None or replace:
            self._loading = asyncio.Event()
            return None
        return self._seeded

    async def end_seeding(self, digest: str, seed: dict[str, Any]) -> None:
        self._seeded = digest
        self._seed = seed
        if self._loading is not None:
            self._loading.set()
            self._loading = None

    async def seed_in_force(self) -> dict[str, Any] | None:
        return self._seed

    async def lost_everything(self) -> bool:
        return False  # this process's memory goes only with the process

    async def abandon_seeding(self) -> None:
        if self._loading is not None:
            self._loading.set()
            self._loading = None

    async def set_default_answer(self, answer: Answer | None) -> None:
        self._default_answer = answer

    async def default_answer(self) -> Answer | None:
        return self._default_answer

    async def clear(self) -> None:
        self._cancel_every_run()
        self._empty()
        self._seeded = None
        self._seed = None
        self._default_answer = None
