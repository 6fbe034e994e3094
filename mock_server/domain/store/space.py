"""What a store's chats take: the bytes each holds against the store's budget, and which chats are
idle, the longest idle first, so that making room evicts in O(1) per chat whatever is busy.

A chat's size is its stored record, title and model and every message it keeps, each as the JSON
text a store writes (`records`): the same number on every store. The memory store keeps a `Space`;
the Redis store keeps the same figures in Redis (`redis_chat_scripts`).
"""

from __future__ import annotations

from collections.abc import Iterator

from mock_server.domain.errors import StoreFull
from mock_server.domain.models import Chat, Message
from mock_server.domain.store import records


def chat_size(chat: Chat) -> int:
    return _size(records.chat_text(chat)) + _size(chat.title) + _size(chat.model_id)


def message_size(message: Message) -> int:
    return _size(records.message_text(message))


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


class Space:
    """The sizes and idleness of a store's chats, against `budget` bytes (0: no bound)."""

    def __init__(self, budget: int = 0) -> None:
        self.budget = budget
        self.used = 0
        self._sizes: dict[str, int] = {}
        self._idle: dict[str, None] = {}
        """Idle chats in the order they became idle (a dict keeps it): the longest idle first."""
        self._idle_bytes = 0

    def add(self, chat_id: str, size: int, *, idle: bool) -> None:
        self._sizes[chat_id] = size
        self.used += size
        self.set_idle(chat_id, idle)

    def resize(self, chat_id: str, delta: int) -> None:
        self._sizes[chat_id] += delta
        self.used += delta
        if chat_id in self._idle:
            self._idle_bytes += delta

    def set_idle(self, chat_id: str, idle: bool) -> None:
        """The chat is idle now (then the most recently idle) or busy (generating, or claimed)."""
        if chat_id in self._idle:
            del self._idle[chat_id]
            self._idle_bytes -= self._sizes[chat_id]
        if idle:
            self._idle[chat_id] = None
            self._idle_bytes += self._sizes[chat_id]

    def forget(self, chat_id: str) -> None:
        self.set_idle(chat_id, False)
        self.used -= self._sizes.pop(chat_id)

    def idle(self) -> Iterator[str]:
        """The idle chats, the longest idle first (the chats stay as they are while it is read)."""
        return iter(self._idle)

    def to_free_for(self, need: int, keep: str) -> list[str]:
        """The idle chats to forget, longest idle first, so that `need` more bytes fit the budget,
        never `keep` (the chat written to); `StoreFull` (and nothing to forget) when they cannot."""
        over = self.used + need - self.budget
        if not self.budget or over <= 0:
            return []
        freeable = self._idle_bytes - (self._sizes[keep] if keep in self._idle else 0)
        if freeable < over:
            raise StoreFull()
        doomed = []
        for chat_id in self._idle:
            if chat_id != keep:
                doomed.append(chat_id)
                over -= self._sizes[chat_id]
                if over <= 0:
                    break
        return doomed
