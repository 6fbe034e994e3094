"""The Redis store: the state of one mock shared by every process that names the same Redis and
key prefix, so that a stop in one process cancels a generation that another process streams.

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
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from mock_server.domain.answers import Answer, answer_json, stored_answer
from mock_server.domain.errors import StoreUnavailable
from mock_server.domain.models import Account, Chat, Chunk, Message, Run, RunStatus, Session, now
from mock_server.domain.store import records
from mock_server.domain.store import redis_scripts as lua
from mock_server.domain.store.base import RunForgotten
from mock_server.domain.store.redis_waits import POLL, Waiters, unavailable

log = logging.getLogger(__name__)

SEEDING_WINDOW = 30
"""Seconds a process has to load the seed before another may take over the loading."""
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OutOfMemoryError, ReadOnlyError, OSError)
"""Failures that mean Redis cannot serve now (503), rather than a fault of this code (500)."""
RESUBSCRIBE = 0.25
"""Seconds between two tries to subscribe to the event channel again."""
CONNECT_TIMEOUT = 2.0
COMMAND_TIMEOUT = 5.0


class RedisStore:
    """`ChatStore` in Redis, under `prefix` (every key and the event channel start with it)."""

    def __init__(self, url: str, prefix: str = "recoup-mock", connections: int = 10_000) -> None:
        self.url = url
        self.prefix = prefix if prefix.endswith(":") else prefix + ":"
        self._redis: aioredis.Redis = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=COMMAND_TIMEOUT,
            retry=Retry(NoBackoff(), 1),
            max_connections=connections,
        )
        self._scripts = {name: self._redis.register_script(getattr(lua, name)) for name in lua.__all__}
        self._waiters = Waiters()
        self._listener: asyncio.Task[None] | None = None

    @property
    def events(self) -> str:
        return self.prefix + "events"

    async def _run(self, script: str, *args: Any) -> Any:
        try:
            return await self._scripts[script](args=[self.prefix, *args])
        except UNAVAILABLE as exc:
            raise unavailable(exc) from exc

    async def _call(self, command: str, *args: Any) -> Any:
        try:
            return await self._redis.execute_command(command, *args)  # type: ignore[no-untyped-call]
        except UNAVAILABLE as exc:
            raise unavailable(exc) from exc

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    # Connection

    async def open(self) -> None:
        await self._call("PING")
        if self._listener is None:
            pubsub = await self._subscribe()
            self._listener = asyncio.create_task(self._listen(pubsub), name="redis-store-events")

    async def _subscribe(self) -> PubSub:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.events)
        except UNAVAILABLE as exc:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise unavailable(exc) from exc
        return pubsub

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        await self._redis.aclose()

    async def _listen(self, pubsub: PubSub) -> None:
        """Wake this process's waiters on the events other processes publish; when the channel is
        lost, subscribe again until Redis is back (the waits look at the state meanwhile)."""
        while True:
            try:
                while True:
                    message = await pubsub.get_message(timeout=POLL)
                    if message is not None and isinstance(message.get("data"), str):
                        self._waiters.on_event(message["data"])
            except UNAVAILABLE as exc:
                log.warning("lost the store's event channel (%s); subscribing again", exc)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            while True:
                await asyncio.sleep(RESUBSCRIBE)
                with contextlib.suppress(StoreUnavailable):
                    pubsub = await self._subscribe()
                    break

    # Accounts and keys

    async def add_account(self, account: Account) -> None:
        await self._run("ADD_ACCOUNT", account.id, records.account_text(account), *account.api_keys)

    async def account_for_key(self, api_key: str) -> Account | None:
        account_id = await self._call("HGET", self._key("keys"), api_key)
        if account_id is None:
            return None
        text = await self._call("HGET", self._key("accounts"), account_id)
        return records.account_of(text) if text else None

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

    async def sessions(self, account_id: str) -> list[Session]:
        ids = await self._call("LRANGE", self._key("sessions-of", account_id), 0, -1)
        texts = await self._call("MGET", *[self._key("session", i) for i in ids]) if ids else []
        return [records.session_of(text) for text in texts if text]

    async def add_chat(self, chat: Chat) -> Chat:
        await self._run(
            "ADD_CHAT",
            chat.id,
            chat.session_id,
            records.chat_text(chat),
            chat.active_stream_id or "",
            chat.updated_at,
            chat.last_assistant_message_at or "",
        )
        stored = await self.get_chat(chat.id)
        return stored or chat

    async def chat_count(self) -> int:
        count: int = await self._call("ZCARD", self._key("chat-order"))
        return count

    async def evict_idle_chat(self) -> str | None:
        evicted: str | None = await self._run("EVICT_IDLE_CHAT")
        return evicted or None

    async def get_chat(self, chat_id: str) -> Chat | None:
        fields = await self._call("HGETALL", self._key("chat", chat_id))
        return self._chat(fields)

    @staticmethod
    def _chat(fields: dict[str, str]) -> Chat | None:
        if not fields:
            return None
        return records.chat_of(fields["record"], fields["active"], fields["updated"], fields["last"])

    async def chats(self, session_id: str) -> list[Chat]:
        ids = await self._call("LRANGE", self._key("chats-of", session_id), 0, -1)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for chat_id in ids:
                    pipe.hgetall(self._key("chat", chat_id))
                found = await pipe.execute()
        except UNAVAILABLE as exc:
            raise unavailable(exc) from exc
        return [chat for chat in map(self._chat, found) if chat is not None]

    async def append_message(self, chat_id: str, message: Message, keep_last: int = 0) -> None:
        assistant = "1" if message.get("role") == "assistant" else "0"
        await self._run("APPEND_MESSAGE", chat_id, records.message_text(message), keep_last, now(), assistant)

    async def messages(self, chat_id: str) -> list[Message]:
        texts = await self._call("LRANGE", self._key("messages", chat_id), 0, -1)
        return [records.message_of(text) for text in texts]

    async def swap_active_stream(self, chat_id: str, expected: str | None, new: str | None) -> bool:
        return bool(await self._run("SWAP_ACTIVE_STREAM", chat_id, expected or "", new or "", now()))

    # Generations

    async def add_run(self, run: Run, lease: float) -> None:
        await self._run("ADD_RUN", run.id, records.run_text(run), round(lease * 1000))

    async def get_run(self, run_id: str) -> Run | None:
        text, status = await self._call("HMGET", self._key("run", run_id), "record", "status")
        return records.run_of(text, status) if text else None

    async def append_chunk(self, run_id: str, chunk: Chunk) -> int:
        length: int = await self._run("APPEND_CHUNK", run_id, records.chunk_text(chunk))
        if length < 0:
            raise RunForgotten(run_id)
        return length

    async def chunks(self, run_id: str) -> list[Chunk]:
        entries = await self._call("XRANGE", self._key("chunks", run_id), "-", "+")
        return [records.chunk_of(fields["c"]) for _, fields in _entries(entries) if "c" in fields]

    async def chunk_count(self, run_id: str) -> int:
        count = await self._call("HGET", self._key("run", run_id), "chunks")
        return int(count) if count else 0

    async def follow_chunks(self, run_id: str, start: int = 0) -> AsyncIterator[Chunk]:
        stream = self._key("chunks", run_id)
        after = f"0-{start}"
        block: int | None = round(POLL * 1000)
        while True:
            try:
                read: Any = await self._redis.xread({stream: after}, count=500, block=block)
            except UNAVAILABLE as exc:
                raise unavailable(exc) from exc
            for _, entries in read or ():
                for entry_id, fields in _entries(entries):
                    if "c" not in fields:
                        return  # the run's end
                    yield records.chunk_of(fields["c"])
                    after = entry_id
            if read:
                continue
            if block is None:
                return  # the last look after the run ended found nothing more
            status = await self._call("HGET", self._key("run", run_id), "status")
            if status is None:
                return  # forgotten
            if status != RunStatus.RUNNING:
                block = None  # ended past `start`: one more look for chunks written meanwhile

    async def finish_run(self, run_id: str, status: RunStatus) -> None:
        await self._run("FINISH_RUN", run_id, status.value)
        self._waiters.forget(run_id)

    async def wait_finished(self, run_id: str, timeout: float) -> RunStatus | None:
        async def status() -> RunStatus | None:
            value = await self._call("HGET", self._key("run", run_id), "status")
            found = RunStatus(value) if value else RunStatus.CANCELLED
            return found if found.terminal else None

        return await self._waiters.finished(run_id, status, timeout)

    async def request_cancel(self, run_id: str) -> bool:
        return bool(await self._run("REQUEST_CANCEL", run_id))

    async def wait_cancel_requested(self, run_id: str, timeout: float) -> bool:
        async def requested() -> bool:
            cancel, status = await self._call("HMGET", self._key("run", run_id), "cancel", "status")
            return bool(cancel) or status is None

        return await self._waiters.cancelled(run_id, requested, timeout)

    async def renew_leases(self, run_ids: Sequence[str], lease: float) -> list[str]:
        if not run_ids:
            return []
        lost: list[str] = await self._run("RENEW_LEASES", round(lease * 1000), *run_ids)
        return lost

    async def lapsed_runs(self) -> list[str]:
        lapsed: list[str] = await self._run("LAPSED_RUNS")
        return lapsed

    async def take_over(self, run_id: str, lease: float) -> bool:
        return bool(await self._run("TAKE_OVER", run_id, round(lease * 1000)))

    async def running_runs(self) -> list[str]:
        running: list[str] = await self._call("ZRANGE", self._key("leases"), 0, -1)
        return running

    async def forget_run(self, run_id: str) -> None:
        await self._run("FORGET_RUN", run_id)
        self._waiters.forget(run_id)

    async def run_count(self) -> int:
        count: int = await self._call("SCARD", self._key("runs"))
        return count

    # Seeding and shared settings

    async def begin_seeding(self, digest: str) -> str | None:
        marker = self._key("seed")
        while True:
            if await self._call("SET", marker, f"loading:{digest}", "NX", "EX", SEEDING_WINDOW):
                return None
            held = await self._call("GET", marker)
            if held is not None and held.startswith("done:"):
                return str(held.removeprefix("done:"))
            await asyncio.sleep(0.05)  # another process is loading it

    async def end_seeding(self, digest: str) -> None:
        await self._call("SET", self._key("seed"), f"done:{digest}")

    async def set_default_answer(self, answer: Answer | None) -> None:
        if answer is None:
            await self._call("DEL", self._key("default-answer"))
        else:
            await self._call("SET", self._key("default-answer"), records.dumps(answer_json(answer)))

    async def default_answer(self) -> Answer | None:
        text = await self._call("GET", self._key("default-answer"))
        return stored_answer(json.loads(text)) if text else None

    async def clear(self) -> None:
        try:
            async for keys in _batches(self._redis.scan_iter(match=self.prefix + "*", count=500)):
                await self._redis.unlink(*keys)
            await self._redis.publish(self.events, "reset")
        except UNAVAILABLE as exc:
            raise unavailable(exc) from exc


def _entries(entries: Any) -> list[tuple[str, dict[str, str]]]:
    return [(str(entry_id), dict(fields)) for entry_id, fields in entries]


async def _batches(keys: AsyncIterator[str], size: int = 500) -> AsyncIterator[list[str]]:
    batch: list[str] = []
    async for key in keys:
        batch.append(key)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
