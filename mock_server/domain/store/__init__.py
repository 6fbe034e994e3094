"""Where the mock's state lives: an async interface and its implementations."""

from mock_server.domain.store.base import ChatStore, RunForgotten, RunTaken
from mock_server.domain.store.memory import MemoryStore


def open_store(url: str, prefix: str = "recoup-mock", connections: int = 10_000) -> ChatStore:
    """The store a `--store` value names: `memory`, or a Redis URL (keys under `prefix`, at most
    `connections` connections)."""
    if url == "memory":
        return MemoryStore()
    from mock_server.domain.store.redis_store import RedisStore  # only a Redis store needs redis-py

    return RedisStore(url, prefix, connections)


__all__ = ["ChatStore", "MemoryStore", "RunForgotten", "RunTaken", "open_store"]
