"""The Redis store's connection: one client and its pool, the store's scripts, every failure that
means Redis cannot serve turned into `StoreUnavailable`, and the event channel's listener.

The listener subscribes once per process and hands each event to `Waiters`; when the channel is
lost it subscribes again until Redis is back (the waits look at the stored state meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError, OutOfMemoryError, ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from mock_server.domain import tasks
from mock_server.domain.errors import StoreUnavailable
from mock_server.domain.store import redis_chat_scripts as chat_lua
from mock_server.domain.store import redis_scripts as lua
from mock_server.domain.store.redis_waits import POLL, Waiters

log = logging.getLogger(__name__)

UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OutOfMemoryError, ReadOnlyError, OSError)
"""Failures that mean Redis cannot serve now (503), rather than a fault of this code (500)."""
RESUBSCRIBE = 0.25
"""Seconds between two tries to subscribe to the event channel again."""
CONNECT_TIMEOUT = 2.0
COMMAND_TIMEOUT = 5.0
"""Seconds a command may take; longer than a stream read's block (`POLL`)."""


FULL = "Every connection this process may open to its store is in use; try again shortly"


async def _closed(pubsub: PubSub) -> None:
    # Through a typed name: `PubSub.aclose` is untyped before redis-py 8 and typed from it on, so
    # neither a call nor a `type: ignore` on it type-checks with both.
    close: Callable[[], Awaitable[None]] = pubsub.aclose
    await close()


def unavailable(cause: Exception) -> StoreUnavailable:
    if isinstance(cause, MaxConnectionsError):
        # Not an outage: this process's bound, which the operator may raise.
        log.warning("all connections to the store are in use; --store-connections raises the bound")
        return StoreUnavailable(FULL)
    log.debug("the store is unavailable: %s", cause)
    return StoreUnavailable()


@contextlib.contextmanager
def store_errors() -> Iterator[None]:
    """Redis failing to serve, inside the block, becomes `StoreUnavailable`."""
    try:
        yield
    except UNAVAILABLE as exc:
        raise unavailable(exc) from exc


class RedisLink:
    """A client of one Redis, under `prefix`, with at most `connections` connections."""

    def __init__(self, url: str, prefix: str, connections: int) -> None:
        self.prefix = prefix if prefix.endswith(":") else prefix + ":"
        self.redis: aioredis.Redis = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=COMMAND_TIMEOUT,
            # A pooled connection that Redis closed (it restarted) fails once on its next use; one
            # retry on a fresh connection tells that apart from Redis being away.
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError],
            max_connections=connections,
        )
        self._scripts = {
            name: self.redis.register_script(getattr(scripts, name))
            for scripts in (lua, chat_lua)
            for name in scripts.__all__
        }
        self.waiters = Waiters()
        self._listener: asyncio.Task[None] | None = None

    @property
    def events(self) -> str:
        return self.prefix + "events"

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def run(self, script: str, *args: Any) -> Any:
        """Run one of `redis_scripts`, the prefix as its first argument."""
        with store_errors():
            return await self._scripts[script](args=[self.prefix, *args])

    async def call(self, command: str, *args: Any) -> Any:
        with store_errors():
            return await self.redis.execute_command(command, *args)  # type: ignore[no-untyped-call]

    async def open(self) -> None:
        await self.call("PING")
        if self._listener is None:
            pubsub = await self._subscribe()
            self._listener = asyncio.create_task(self._listen(pubsub), name="redis-store-events")

    async def close(self) -> None:
        await tasks.stop(self._listener)
        self._listener = None
        await self.redis.aclose()

    async def _subscribe(self) -> PubSub:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            with store_errors():
                await pubsub.subscribe(self.events)
        except StoreUnavailable:
            await _closed(pubsub)
            raise
        return pubsub

    async def _listen(self, pubsub: PubSub) -> None:
        while True:
            try:
                while True:
                    message = await pubsub.get_message(timeout=POLL)
                    tasks.raise_if_cancelled()
                    if message is not None and isinstance(message.get("data"), str):
                        self.waiters.on_event(message["data"])
            except UNAVAILABLE as exc:
                log.warning("lost the store's event channel (%s); subscribing again", exc)
            finally:
                with contextlib.suppress(Exception):
                    await _closed(pubsub)
            while True:
                await asyncio.sleep(RESUBSCRIBE)
                tasks.raise_if_cancelled()
                with contextlib.suppress(StoreUnavailable):
                    pubsub = await self._subscribe()
                    break
