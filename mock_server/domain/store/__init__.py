"""Where the mock's state lives: an async interface and its implementations."""

from mock_server.domain.store.base import ChatStore, RunForgotten, RunTaken
from mock_server.domain.store.memory import MemoryStore


def open_store(
    url: str, prefix: str = "recoup-mock", connections: int = 10_000, max_bytes: int = 0
) -> ChatStore:
    """The store a `--store` value names: `memory`, or a Redis URL (keys under `prefix`, at most
    `connections` connections); its chats and messages within `max_bytes` (0: no bound)."""
    if url == "memory":
        return MemoryStore(max_bytes)
    from mock_server.domain.store.redis_store import RedisStore  # only a Redis store needs redis-py

    return RedisStore(url, prefix, connections, max_bytes)


__all__ = ["ChatStore", "MemoryStore", "RunForgotten", "RunTaken", "open_store"]
