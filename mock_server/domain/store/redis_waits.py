"""Waiting on a shared store: the events one process's listener receives wake the waits of that
process, and each wait also looks at the stored state now and then, so that an event lost while
the store was away only delays a wake-up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from mock_server.domain.store.waiting import event_within

T = TypeVar("T")

POLL = 1.0
"""Longest a wait goes without looking at the stored state."""


STALE_AFTER = 60
"""Polls without a wait after which a run's cancel state is dropped."""


class _Cancel:
    """What this process knows of one run's cancel request, kept while the run generates here."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.checked = float("-inf")


class Waiters:
    """This process's waits on runs: `finish` waits (a stop's) and `cancel` waits (a generation's)."""

    def __init__(self, poll: float = POLL) -> None:
        self.poll = poll
        self._finish: dict[str, set[asyncio.Event]] = {}
        self._cancel: dict[str, _Cancel] = {}
        self.resets = 0
        """How many resets this process has heard of: what it read before one may be gone."""

    def on_event(self, data: str) -> None:
        """An event from the channel: `cancel RUN`, `finish RUN` or `reset` (everything is gone)."""
        kind, _, run_id = data.partition(" ")
        if kind == "reset":
            self.resets += 1
            for state in self._cancel.values():
                state.requested.set()
            for events in self._finish.values():
                for event in events:
                    event.set()
        elif kind == "cancel" and run_id in self._cancel:
            self._cancel[run_id].requested.set()
        elif kind == "finish":
            for event in self._finish.get(run_id, ()):
                event.set()

    def forget(self, run_id: str) -> None:
        self._cancel.pop(run_id, None)

    def _prune(self) -> None:
        """Drop what is known of runs nobody here waits on any more (their generation ended
        without finishing them: the store was reset or lost, or another process took them over);
        a run waited on is looked at every `poll` seconds."""
        stale = time.monotonic() - STALE_AFTER * self.poll
        for run_id in [r for r, state in self._cancel.items() if state.checked < stale]:
            del self._cancel[run_id]

    async def cancelled(self, run_id: str, check: Callable[[], Awaitable[bool]], timeout: float) -> bool:
        """Whether the run's cancel is requested, waiting up to `timeout` seconds for it.

        Called before every chunk a generation sends: the stored state is read at most once per
        `poll` seconds, the channel's event answers in between.
        """
        state = self._cancel.get(run_id)
        if state is None:
            self._prune()
            state = self._cancel[run_id] = _Cancel()
        deadline = time.monotonic() + timeout
        while not state.requested.is_set():
            moment = time.monotonic()
            if moment - state.checked >= self.poll:
                state.checked = moment
                if await check():
                    state.requested.set()
                    break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await event_within(state.requested, min(remaining, self.poll))
        return True

    async def finished(
        self, run_id: str, check: Callable[[], Awaitable[T | None]], timeout: float
    ) -> T | None:
        """`check()`'s answer once it has one (a `finish` event prompts a look), or None after
        `timeout` seconds."""
        event = asyncio.Event()
        self._finish.setdefault(run_id, set()).add(event)
        try:
            deadline = time.monotonic() + timeout
            while True:
                result = await check()
                remaining = deadline - time.monotonic()
                if result is not None or remaining <= 0:
                    return result
                await event_within(event, min(remaining, self.poll))
                event.clear()
        finally:
            events = self._finish.get(run_id, set())
            events.discard(event)
            if not events:
                self._finish.pop(run_id, None)
