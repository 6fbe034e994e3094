"""One app's running state, and the typed way handlers and middleware reach it.

The app puts its runtime into each request's ASGI scope, so a handler reaches the state of the app
that serves it (several apps can live in one process, as tests do).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

from connexion import request

from mock_server.config import Config
from mock_server.domain import tasks
from mock_server.domain.errors import SeedTooLarge, StoreUnavailable
from mock_server.domain.generation import Generations, Pacing
from mock_server.domain.leases import LeaseKeeper
from mock_server.domain.seed import Seed, apply_seed, too_large
from mock_server.domain.service import ChatService
from mock_server.domain.store import ChatStore, open_store
from mock_server.flags import masked
from mock_server.http.journal import Journal

log = logging.getLogger(__name__)

RESEED_CHECK = 2.0
"""Seconds between two looks at whether the store lost everything."""

SCOPE_KEY = "recoup_mock.runtime"


class Runtime:
    """The chat service over its store, the seed it resets to, and the journal of requests."""

    def __init__(self, config: Config, seed: Seed, store: ChatStore | None = None) -> None:
        self.config = config
        self.seed = seed
        store = store or open_store(
            config.store, config.store_prefix, config.store_connections, config.max_store_bytes
        )
        self.store = store
        pacing = Pacing(
            config.first_token_delay, config.tokens_per_second, config.tool_seconds, config.replay_speed
        )
        generations = Generations(
            store,
            pacing=pacing,
            stop_timeout=config.stop_timeout,
            max_running=config.max_generations,
            retention=config.run_retention,
            max_messages=config.max_messages_per_chat,
            lease=config.generation_lease,
        )
        self.leases = LeaseKeeper(generations)
        self.service = ChatService(
            store,
            generations,
            max_chats=config.max_chats,
            max_messages=config.max_messages_per_chat,
            cancel_dropped=config.on_disconnect == "cancel",
        )
        self.journal = Journal(config.journal_size)
        self._started = False
        self._lock = asyncio.Lock()
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the store and seed it, on the event loop that will run the generations.

        A shared store is seeded once: the first process to start loads the seed, the others (and
        later restarts) find it loaded and keep what is stored.
        """
        if self._started:
            return
        async with self._lock:
            if not self._started:
                await self.store.open()
                digest = seed_digest(self.seed)
                held = await self.store.begin_seeding(digest)
                if held is None:
                    await self._seed(self.seed, digest)
                else:
                    if held != digest:
                        log.warning(
                            "the store holds the state of another seed; keeping it "
                            "(POST /__mock/reset loads it again, PUT /__mock/seed another)"
                        )
                    self.seed = await self.store.seed_in_force() or self.seed
                if self.store.shared:  # nothing else can lose this process's runs or state
                    self.leases.start()
                    self._watch = asyncio.create_task(self._keep_seeded(), name="keep-seeded")
                self._started = True

    async def load(self, seed: Seed) -> None:
        """Replace all state with `seed`'s, for every process sharing the store (running
        generations are stopped first); loads in several processes at once run one at a time."""
        digest = seed_digest(seed)
        await self.store.begin_seeding(digest, replace=True)
        await self._seed(seed, digest, reset=True)

    async def seed_in_force(self) -> Seed:
        """The seed a reset returns to: the last one loaded by any process sharing the store."""
        self.seed = await self.store.seed_in_force() or self.seed
        return self.seed

    async def _seed(self, seed: Seed, digest: str, *, reset: bool = False) -> None:
        """Load `seed`, which `begin_seeding` granted this process; a failure frees the grant."""
        try:
            refusal = too_large(seed, self.store.max_bytes)
            if refusal:
                raise SeedTooLarge(f"{refusal[0].upper()}{refusal[1:]}; nothing was changed")
            if reset:
                await self.service.reset()
            await apply_seed(self.service, seed)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.store.abandon_seeding()
            raise
        await self.store.end_seeding(digest, seed)
        self.seed = seed

    async def _keep_seeded(self) -> None:
        """Load the seed again when the store lost everything (a Redis that restarted empty)."""
        while True:
            await asyncio.sleep(RESEED_CHECK)
            tasks.raise_if_cancelled()
            try:
                # Keep the seed in force at hand: a store that lost everything lost it too.
                self.seed = await self.store.seed_in_force() or self.seed
                if await self.store.lost_everything():
                    log.warning("the store lost its state (did Redis restart empty?): loading the seed again")
                    digest = seed_digest(self.seed)
                    if await self.store.begin_seeding(digest) is None:
                        await self._seed(self.seed, digest)
            except StoreUnavailable:
                pass
            except Exception:
                log.exception("loading the seed again failed")

    async def close(self) -> None:
        await tasks.stop(self._watch)
        await self.leases.stop()
        await self.service.close()
        await self.store.close()


def seed_digest(seed: Seed) -> str:
    return hashlib.sha256(json.dumps(seed, sort_keys=True, default=str).encode()).hexdigest()[:16]


def runtime_of(scope: MutableMapping[str, Any]) -> Runtime:
    runtime = scope.get(SCOPE_KEY)
    if not isinstance(runtime, Runtime):
        raise RuntimeError("the request did not pass through the app's RuntimeMiddleware")
    return runtime


CURRENT_RUNTIME: ContextVar[Runtime | None] = ContextVar("recoup_mock_runtime", default=None)
"""The runtime of the request being handled, set by the app's `RuntimeMiddleware`: a plain context
variable is far cheaper per request than Connexion's request proxy."""


def current_runtime() -> Runtime:
    """The runtime of the app serving the request being handled."""
    return CURRENT_RUNTIME.get() or runtime_of(request.scope)


def current_service() -> ChatService:
    return current_runtime().service


async def store_problem(config: Config) -> str | None:
    """Why the store `config` names cannot be used now, or None when it answers."""
    store = open_store(config.store, config.store_prefix, config.store_connections)
    where = masked(config.store)
    try:
        await store.open()
    except StoreUnavailable as exc:
        return f"cannot reach the store at {where}: {exc.__cause__ or exc}"
    except Exception as exc:  # e.g. a database number the server does not have, a wrong password
        return f"cannot use the store at {where}: {exc}"
    finally:
        with contextlib.suppress(Exception):
            await store.close()
    return None
