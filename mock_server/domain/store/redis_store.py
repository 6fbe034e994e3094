"""The Redis store: the state of one mock shared by every process that names the same Redis and
key prefix, so that a stop in one process cancels a generation that another process streams (its
runs: `redis_runs`).

- Records are JSON text (`records`); a chat's active generation is a hash field that
  `SWAP_ACTIVE_STREAM` compares and sets, so exactly one of many concurrent stops wins.
- A generation's chunks are a Redis stream whose entry n has the id `0-n`: any process serves a
  resume from any index, and readers block on the stream (`XREAD BLOCK`) instead of polling.
- Cancels and ends of runs are published on one channel per prefix; each process listens once and
  wakes its local waiters. The waits also look at the stored state every `POLL` seconds, so a
  message lost while Redis was away delays a wake-up, never loses it.
- Every Redis failure surfaces as `StoreUnavailable`; the connection pool reconnects by itself
  when Redis is back.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from mock_server.domain.answers import Answer, answer_json, stored_answer
from mock_server.domain.errors import StoreFull, TooBusy, TooManyChats
from mock_server.domain.models import Account, Chat, ChatRemoval, Message, Session, now
from mock_server.domain.store import records
from mock_server.domain.store.redis_link import RedisLink, store_errors
from mock_server.domain.store.redis_runs import RedisRuns

FULL = -1
"""`ADD_CHAT`'s answer when the bound is reached and every chat is busy; the answer of
`APPEND_MESSAGE`, `UPDATE_CHAT` and `SWAP_ACTIVE_STREAM` (with a message) when the byte budget
cannot make room."""
NO_ROOM = -3
"""`ADD_CHAT`'s answer when the chat does not fit the byte budget."""
SEEDING_WINDOW = 30
"""Seconds a process has to load the seed before another may take over the loading."""
_REPLACED, _GONE = 1, -1
"""`REPLACE_SESSION`'s answers (0: the record changed meanwhile)."""
ACCOUNT_KEPT_FOR = 2.0
"""Seconds a process answers a key with the account it last read for it, without asking Redis.
Accounts change only when a seed is loaded, whose reset every process hears at once: this bounds
the time a lost event could leave a key on its former account."""
ACCOUNTS_KEPT = 10_000
"""Keys whose account a process keeps at most (the oldest go first)."""

_MAX_SESSION_RACES = 50
"""Times a session's change is made again because another changed it first, before giving up."""


class RedisStore(RedisRuns):
    """`ChatStore` in Redis, under `prefix` (every key and the event channel start with it), its
    chats and messages within `max_bytes`."""

    shared = True

    def __init__(
        self, url: str, prefix: str = "recoup-mock", connections: int = 10_000, max_bytes: int = 0
    ) -> None:
        self.url = url
        self.max_bytes = max_bytes
        self._link = RedisLink(url, prefix, connections)
        self._waiters = self._link.waiters
        self._run = self._link.run
        self._call = self._link.call
        self._key = self._link.key
        self._seen_kept = False
        self._owner = uuid.uuid4().hex
        """This store's token in the runs it generates: only a run's owner writes it."""
        self._loading: str | None = None
        self._accounts: dict[str, tuple[Account, int, float]] = {}
        """Key → the account read for it, the resets heard by then, and until when it is kept."""

    async def open(self) -> None:
        await self._link.open()

    async def close(self) -> None:
        await self._link.close()

    # Accounts and keys

    async def add_account(self, account: Account) -> None:
        await self._run("ADD_ACCOUNT", account.id, records.account_text(account), *account.api_keys)

    async def account_for_key(self, api_key: str) -> Account | None:
        # Every authenticated request asks this first: a key just read is answered from memory.
        kept = self._accounts.get(api_key)
        moment = time.monotonic()
        if kept is not None and kept[1] == self._waiters.resets and kept[2] > moment:
            return kept[0]
        text = await self._run("ACCOUNT_FOR_KEY", api_key)
        if not text:
            self._accounts.pop(api_key, None)
            return None  # an unknown key is asked again: another process may load it meanwhile
        account = records.account_of(text)
        if len(self._accounts) >= ACCOUNTS_KEPT:
            self._accounts.pop(next(iter(self._accounts)))
        self._accounts[api_key] = (account, self._waiters.resets, moment + ACCOUNT_KEPT_FOR)
        return account

    async def accounts(self) -> list[Account]:
        ids = await self._call("LRANGE", self._key("account-ids"), 0, -1)
        texts = await self._call("HMGET", self._key("accounts"), *ids) if ids else []
        return [records.account_of(text) for text in texts if text]

    # Sessions, chats, messages

    async def add_session(self, session: Session) -> None:
        await self._run("ADD_SESSION", session.id, session.account_id, records.session_text(session))

    async def get_session(self, session_id: str) -> Session | None:
        text = await self._call("GET", self._key("session", session_id))
        return records.session_of(text) if text else None

    async def update_session(
        self, session_id: str, change: Callable[[Session], Session | None]
    ) -> Session | None:
        # Optimistic: the change is stored only if the record is still the one it was made from;
        # a lost race waits a random moment, growing, so that racers spread out.
        for attempt in range(_MAX_SESSION_RACES):
            if attempt:
                await asyncio.sleep(random.uniform(0, 0.001 * attempt))
            text = await self._call("GET", self._key("session", session_id))
            if not text:
                return None
            changed = change(records.session_of(text))
            if changed is None:
                return records.session_of(text)
            new_text = records.session_text(changed)
            outcome = await self._run("REPLACE_SESSION", session_id, text, new_text)
            if outcome == _REPLACED:
                return changed
            if outcome == _GONE:
                return None
        raise TooBusy("The session is changed by too many requests at once; try again shortly")

    async def sessions(self, account_id: str) -> list[Session]:
        ids = await self._call("LRANGE", self._key("sessions-of", account_id), 0, -1)
        texts = await self._call("MGET", *[self._key("session", i) for i in ids]) if ids else []
        return [records.session_of(text) for text in texts if text]

    async def add_chat(self, chat: Chat, max_chats: int = 0, session: Session | None = None) -> Chat:
        with_session = (session.account_id, records.session_text(session)) if session else ()
        added = await self._run(
            "ADD_CHAT",
            chat.id,
            chat.session_id,
            records.chat_text(chat),
            chat.active_stream_id or "",
            chat.updated_at,
            chat.last_assistant_message_at or "",
            chat.title,
            chat.model_id,
            max_chats,
            self.max_bytes,
            *with_session,
        )
        if added == FULL:
            raise TooManyChats()
        if added == NO_ROOM:
            raise StoreFull()
        if added:
            return chat
        return await self.get_chat(chat.id) or chat

    async def chat_count(self) -> int:
        count: int = await self._call("ZCARD", self._key("chat-order"))
        return count

    async def bytes_used(self) -> int:
        return int(await self._call("GET", self._key("bytes")) or 0)

    async def get_chat(self, chat_id: str) -> Chat | None:
        fields = await self._call("HGETALL", self._key("chat", chat_id))
        return self._chat(fields)

    async def chat_and_owner(self, chat_id: str) -> tuple[Chat | None, str | None]:
        found = await self._run("CHAT_AND_OWNER", chat_id)
        if not found:
            return None, None
        fields = dict(zip(found[::2], found[1::2], strict=True))
        return self._chat(fields), fields.pop("__owner") or None

    @staticmethod
    def _chat(fields: dict[str, str]) -> Chat | None:
        return records.chat_of(fields) if fields else None

    async def update_chat(
        self, chat_id: str, *, title: str | None = None, model_id: str | None = None
    ) -> Chat | None:
        found = await self._run("UPDATE_CHAT", chat_id, title or "", model_id or "", now(), self.max_bytes)
        if found == FULL:
            raise StoreFull()
        return self._chat(dict(zip(found[::2], found[1::2], strict=True))) if found else None

    async def remove_chat(self, session_id: str, chat_id: str) -> tuple[ChatRemoval, str | None]:
        outcome, active = await self._run("REMOVE_CHAT", session_id, chat_id)
        return ChatRemoval(outcome), active or None

    async def mark_read(self, chat_id: str, account_id: str, at: str) -> bool:
        return bool(await self._run("MARK_READ", chat_id, account_id, at))

    async def read_marks(self, account_id: str, chat_ids: Sequence[str]) -> dict[str, str]:
        with store_errors():
            async with self._link.redis.pipeline(transaction=False) as pipe:
                for chat_id in chat_ids:
                    pipe.hget(self._key("reads", chat_id), account_id)
                found = await pipe.execute()
        return {chat_id: at for chat_id, at in zip(chat_ids, found, strict=True) if at is not None}

    async def chats(self, session_id: str) -> list[Chat]:
        ids = await self._call("LRANGE", self._key("chats-of", session_id), 0, -1)
        with store_errors():
            async with self._link.redis.pipeline(transaction=False) as pipe:
                for chat_id in ids:
                    pipe.hgetall(self._key("chat", chat_id))
                found = await pipe.execute()
        return [chat for chat in map(self._chat, found) if chat is not None]

    async def append_message(self, chat_id: str, message: Message, keep_last: int = 0) -> None:
        added = await self._run("APPEND_MESSAGE", chat_id, now(), *self._appending(message, keep_last))
        if added == FULL:
            raise StoreFull()

    def _appending(self, message: Message, keep_last: int) -> tuple[str, int, str, int]:
        """The arguments of the Lua `append_message` after the chat and the time."""
        assistant = "1" if message.get("role") == "assistant" else "0"
        return records.message_text(message), keep_last, assistant, self.max_bytes

    async def messages(self, chat_id: str) -> list[Message]:
        texts = await self._call("LRANGE", self._key("messages", chat_id), 0, -1)
        return [records.message_of(text) for text in texts]

    async def swap_active_stream(
        self,
        chat_id: str,
        expected: str | None,
        new: str | None,
        *,
        adding: Message | None = None,
        keep_last: int = 0,
    ) -> bool:
        appending = self._appending(adding, keep_last) if adding is not None else ()
        swapped = await self._run("SWAP_ACTIVE_STREAM", chat_id, expected or "", new or "", now(), *appending)
        if swapped == FULL:
            raise StoreFull()
        return bool(swapped)

    # Seeding and shared settings

    async def begin_seeding(self, digest: str, *, replace: bool = False) -> str | None:
        while True:
            answer = await self._run("BEGIN_SEEDING", digest, int(replace), SEEDING_WINDOW)
            if answer == 1:
                self._loading = digest
                return None
            if isinstance(answer, str):
                self._seen_kept = True
                return answer
            await asyncio.sleep(0.05)  # another process is loading a seed

    async def end_seeding(self, digest: str, seed: dict[str, Any]) -> None:
        with store_errors():
            async with self._link.redis.pipeline(transaction=True) as pipe:
                pipe.set(self._key("seed-document"), records.dumps(seed))
                pipe.set(self._key("seed"), f"done:{digest}")
                pipe.set(self._key("kept"), "1")
                await pipe.execute()
        self._seen_kept = True
        self._loading = None

    async def seed_in_force(self) -> dict[str, Any] | None:
        text = await self._call("GET", self._key("seed-document"))
        seed: dict[str, Any] | None = json.loads(text) if text else None
        return seed

    async def lost_everything(self) -> bool:
        # `kept` is set once a seed is loaded and survives `clear`: only Redis itself loses it.
        kept = bool(await self._call("EXISTS", self._key("kept")))
        lost = self._seen_kept and not kept
        self._seen_kept = self._seen_kept or kept
        return lost

    async def abandon_seeding(self) -> None:
        if self._loading is not None:  # only the grant this store took, not a later one
            await self._run("ABANDON_SEEDING", f"loading:{self._loading}")
            self._loading = None

    async def set_default_answer(self, answer: Answer | None) -> None:
        if answer is None:
            await self._call("DEL", self._key("default-answer"))
        else:
            await self._call("SET", self._key("default-answer"), records.dumps(answer_json(answer)))

    async def default_answer(self) -> Answer | None:
        text = await self._call("GET", self._key("default-answer"))
        return stored_answer(json.loads(text)) if text else None

    async def clear(self) -> None:
        self._accounts.clear()
        await self._run("CLEAR")
