"""The stores the store contract runs on: each test gets a fresh one of every kind.

`store` is one store; `store_pair` is two handles on the same state, as two processes have: the
same object in memory, two clients of one Redis (under one key prefix) otherwise. A new backend
passes when it is added here; no test names an implementation.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from mock_server.domain.store import ChatStore, MemoryStore
from mock_server.domain.store.redis_store import RedisStore

STORE_KINDS = ("memory", "redis")


def _opener(kind: str, request: pytest.FixtureRequest) -> Callable[[], ChatStore]:
    if kind == "memory":
        memory = MemoryStore()
        return lambda: memory
    url = request.getfixturevalue("redis_url")
    prefix = f"test-{uuid.uuid4().hex}"
    return lambda: RedisStore(url, prefix)


@pytest.fixture(params=STORE_KINDS)
async def store_pair(request: pytest.FixtureRequest) -> AsyncIterator[tuple[ChatStore, ChatStore]]:
    opener = _opener(request.param, request)
    first, second = opener(), opener()
    await first.open()
    await second.open()
    yield first, second
    await first.clear()
    await first.close()
    if second is not first:
        await second.close()


@pytest.fixture
def store(store_pair: tuple[ChatStore, ChatStore]) -> ChatStore:
    return store_pair[0]
