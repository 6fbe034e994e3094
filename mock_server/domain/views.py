"""What the mock holds, as read-only views for operating it (the admin API): accounts with their
sessions, chats and generations, a page of sessions at a time, and the answers running now.

A page is built a few hundred chats at a time with a pause for the event loop in between, so
reading a large state never stalls the requests being served.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from mock_server.domain.models import Account, Chat, Run, Session
from mock_server.domain.store import ChatStore

YIELD_EVERY = 200
"""Chats read between two pauses for the event loop."""


@dataclass(frozen=True)
class GenerationView:
    run: Run
    chunks: int


@dataclass(frozen=True)
class ChatView:
    chat: Chat
    message_count: int
    generation: GenerationView | None


@dataclass(frozen=True)
class SessionView:
    session: Session
    chats: tuple[ChatView, ...]


@dataclass(frozen=True)
class AccountView:
    account: Account
    sessions: tuple[SessionView, ...]
    """Only the sessions of the page."""


@dataclass(frozen=True)
class Running:
    """A generation running now, with the account and session of its chat."""

    generation: GenerationView
    account_id: str
    session_id: str


@dataclass(frozen=True)
class StoreUse:
    """What the store holds against its bounds."""

    chats: int
    bytes: int
    """The bytes the chats hold (see `store.space`), against `max_bytes` (0: no bound)."""
    max_bytes: int


@dataclass(frozen=True)
class StatePage:
    accounts: tuple[AccountView, ...]
    """Every account; each with the sessions that fall in this page."""
    running: tuple[Running, ...]
    """Every generation running now, whatever the page."""
    sessions: int
    """Sessions in all."""
    next_offset: int | None
    """Where the next page starts, or None after the last."""
    use: StoreUse


async def generation_view(store: ChatStore, run_id: str | None) -> GenerationView | None:
    run = await store.get_run(run_id) if run_id else None
    return GenerationView(run, await store.chunk_count(run.id)) if run else None


async def state_page(store: ChatStore, running_ids: list[str], offset: int = 0, limit: int = 0) -> StatePage:
    """Sessions `offset` to `offset + limit` (all of them for `limit` 0), account by account."""
    end = offset + limit if limit else None
    accounts = []
    index = read = 0
    for account in await store.accounts():
        sessions = []
        for session in await store.sessions(account.id):
            if index >= offset and (end is None or index < end):
                chats = []
                for chat in sorted(await store.chats(session.id), key=lambda c: c.created_at):
                    generation = await generation_view(store, chat.active_stream_id)
                    chats.append(ChatView(chat, len(await store.messages(chat.id)), generation))
                    read += 1
                    if read % YIELD_EVERY == 0:
                        await asyncio.sleep(0)
                sessions.append(SessionView(session, tuple(chats)))
            index += 1
        accounts.append(AccountView(account, tuple(sessions)))
    running = await _running(store, running_ids)
    next_offset = end if end is not None and end < index else None
    use = StoreUse(await store.chat_count(), await store.bytes_used(), store.max_bytes)
    return StatePage(tuple(accounts), running, index, next_offset, use)


async def _running(store: ChatStore, run_ids: list[str]) -> tuple[Running, ...]:
    found = []
    for run_id in run_ids:
        generation = await generation_view(store, run_id)
        chat = await store.get_chat(generation.run.chat_id) if generation else None
        session = await store.get_session(chat.session_id) if chat else None
        if generation and session and not generation.run.status.terminal:
            found.append(Running(generation, session.account_id, session.id))
    return tuple(found)
