"""Where the mock's state lives: an async interface and its implementations."""

from mock_server.domain.store.base import ChatStore
from mock_server.domain.store.memory import MemoryStore

__all__ = ["ChatStore", "MemoryStore"]
