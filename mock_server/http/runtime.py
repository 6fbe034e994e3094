"""One app's running state, and the typed way handlers and middleware reach it.

The app puts its runtime into each request's ASGI scope, so a handler reaches the state of the app
that serves it (several apps can live in one process, as tests do).
"""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

from connexion import request

from mock_server.config import Config
from mock_server.domain.generation import Generations, Pacing
from mock_server.domain.seed import Seed, apply_seed
from mock_server.domain.service import ChatService
from mock_server.domain.store import ChatStore, MemoryStore
from mock_server.http.journal import Journal

SCOPE_KEY = "recoup_mock.runtime"


class Runtime:
    """The chat service over its store, the seed it resets to, and the journal of requests."""

    def __init__(self, config: Config, seed: Seed, store: ChatStore | None = None) -> None:
        self.config = config
        self.seed = seed
        store = store or MemoryStore()
        pacing = Pacing(config.first_token_delay, config.tokens_per_second, config.tool_seconds)
        generations = Generations(
            store,
            pacing=pacing,
            stop_timeout=config.stop_timeout,
            max_running=config.max_generations,
            retention=config.run_retention,
            max_messages=config.max_messages_per_chat,
        )
        self.service = ChatService(
            store, generations, max_chats=config.max_chats, max_messages=config.max_messages_per_chat
        )
        self.journal = Journal(config.journal_size)
        self._started = False
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Load the seed once, on the event loop that will run its generations."""
        if self._started:
            return
        async with self._lock:
            if not self._started:
                await self.load(self.seed)
                self._started = True

    async def load(self, seed: Seed) -> None:
        """Replace all state with `seed`'s (running generations are cancelled first)."""
        await self.service.reset()
        await apply_seed(self.service, seed)
        self.seed = seed

    async def close(self) -> None:
        await self.service.close()


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
