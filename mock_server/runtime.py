"""One mock's running state: its store, generations and service, and loading its seed data.

The app puts the runtime into each request's ASGI scope, so handlers and security functions reach
the state of the app that serves them (several apps can live in one process, as tests do).
"""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

from mock_server.config import Config
from mock_server.generation import Generations
from mock_server.seed import Seed, apply_seed
from mock_server.service import ChatService
from mock_server.store import ChatStore, MemoryStore

SCOPE_KEY = "recoup_mock.runtime"


class Runtime:
    def __init__(self, config: Config, seed: Seed, store: ChatStore | None = None) -> None:
        self.config = config
        self.seed = seed
        self.store = store or MemoryStore()
        self.generations = Generations(self.store, pace=config.stream_pace, stop_timeout=config.stop_timeout)
        self.service = ChatService(self.store, self.generations)
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
        await self.generations.close()
        await self.store.clear()
        await apply_seed(self.store, self.generations, seed)
        self.seed = seed

    async def close(self) -> None:
        await self.generations.close()


def runtime_of(scope: MutableMapping[str, Any]) -> Runtime:
    return scope[SCOPE_KEY]
