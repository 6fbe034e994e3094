"""The in-memory store: one process, state in dicts, waiting done with asyncio primitives.

Every method runs without awaiting between reading and writing state, so each is atomic on the
event loop; that is what makes `swap_active_stream` and `request_cancel` safe under concurrent stops.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from mock_server.domain.answers import Answer
from mock_server.domain.errors import TooManyChats
from mock_server.domain.models import Account, Chat, ChatRemoval, Chunk, Message, Run, RunStatus, Session, now
from mock_server.domain.store.base import RunForgotten
from mock_server.domain.store.space import Space, chat_size, message_size
from mock_server.domain.store.waiting import Signal


@dataclass
class _RunState:
    run: Run
    chunks: list[Chunk] = field(default_factory=list)
    news: Signal = field(default_factory=Signal)
    """Set when a chunk or the run's end comes, then replaced: what readers wait on."""
    cancel_requested: Signal = field(default_factory=Signal)
    finished: Signal = field(default_factory=Signal)

    def has_news(self, index: int) -> bool:
        """Whether a reader that has seen `index` chunks has something new to read."""
        return index < len(self.chunks) or self.run.status.terminal

    def announce(self) -> None:
        # An event per piece of news, set once: cheaper for the writer and every reader than a
        # condition's lock, taken once by the writer and again by each reader it wakes.
        self.news.set()
        self.news = Signal()


class MemoryStore:
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
        self._runs: dict[str, _RunState] = {}
        self._leases: dict[str, float] = {}
        """Running runs' lease ends, on the monotonic clock."""
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
            self._evict(chat_id)
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

    def _evict(self, chat_id: str) -> None:
        chat = self._chats[chat_id]
        self._forget_chat(chat)
        if not self._chats_of[chat.session_id]:
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

    async def swap_active_stream(self, chat_id: str, expected: str | None, new: str | None) -> bool:
        chat = self._chats.get(chat_id)
        if chat is None or chat.active_stream_id != expected:
            return False
        self._chats[chat_id] = replace(chat, active_stream_id=new, updated_at=now())
        self._space.set_idle(chat_id, new is None)
        return True

    async def add_run(self, run: Run, lease: float) -> None:
        self._runs[run.id] = _RunState(run)
        self._leases[run.id] = time.monotonic() + lease

    async def get_run(self, run_id: str) -> Run | None:
        state = self._runs.get(run_id)
        return state.run if state else None

    async def append_chunks(self, run_id: str, chunks: Sequence[Chunk]) -> int:
        state = self._runs.get(run_id)
        if state is None:
            raise RunForgotten(run_id)
        if not state.run.status.terminal and chunks:
            state.chunks.extend(chunks)
            state.announce()
        return len(state.chunks)

    async def append_chunk(self, run_id: str, chunk: Chunk) -> int:
        return await self.append_chunks(run_id, (chunk,))

    async def chunks(self, run_id: str) -> list[Chunk]:
        state = self._runs.get(run_id)
        return list(state.chunks) if state else []

    async def chunk_count(self, run_id: str) -> int:
        state = self._runs.get(run_id)
        return len(state.chunks) if state else 0

    async def follow_chunks(self, run_id: str, start: int = 0) -> AsyncGenerator[Chunk, None]:
        state = self._runs[run_id]
        index = start
        while True:
            while index < len(state.chunks):
                yield state.chunks[index]
                index += 1
            if state.run.status.terminal:
                return
            news = state.news
            if not state.has_news(index):
                await news.wait()

    async def finish_run(self, run_id: str, status: RunStatus, *, keep_for: float | None = None) -> None:
        state = self._runs.get(run_id)
        if state is None:
            return
        if keep_for is not None and not state.run.status.terminal:
            asyncio.get_running_loop().call_later(keep_for, self._forget_finished, state)
        self._leases.pop(run_id, None)
        if not state.run.status.terminal:
            state.run = replace(state.run, status=status)
            state.announce()
        state.finished.set()

    async def wait_finished(self, run_id: str, timeout: float) -> RunStatus | None:
        state = self._runs.get(run_id)
        if state is None:
            return RunStatus.CANCELLED
        await state.finished.within(timeout)
        return state.run.status if state.run.status.terminal else None

    async def request_cancel(self, run_id: str) -> bool:
        state = self._runs.get(run_id)
        if state is None or state.run.status.terminal:
            return False
        first = not state.cancel_requested.is_set()
        state.cancel_requested.set()
        return first

    async def wait_cancel_requested(self, run_id: str, timeout: float) -> bool:
        state = self._runs.get(run_id)
        if state is None:
            return True
        return await state.cancel_requested.within(timeout)

    async def renew_leases(self, run_ids: Sequence[str], lease: float) -> list[str]:
        until = time.monotonic() + lease
        lost = []
        for run_id in run_ids:
            if run_id in self._leases:
                self._leases[run_id] = until
            else:
                lost.append(run_id)
        return lost

    async def lapsed_runs(self) -> dict[str, float]:
        moment = time.monotonic()
        return {run_id: until for run_id, until in self._leases.items() if until <= moment}

    async def take_over(self, run_id: str, lease: float, expiry: float) -> bool:
        until = self._leases.get(run_id)
        if until is None or until > time.monotonic() or until != expiry:
            return False
        self._leases[run_id] = time.monotonic() + lease
        return True

    async def running_runs(self) -> list[str]:
        return list(self._leases)

    def _forget_finished(self, state: _RunState) -> None:
        if self._runs.get(state.run.id) is state:
            del self._runs[state.run.id]

    async def run_count(self) -> int:
        return len(self._runs)

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
        for state in self._runs.values():
            state.cancel_requested.set()
        self._empty()
        self._seeded = None
        self._seed = None
        self._default_answer = None
