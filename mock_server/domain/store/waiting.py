"""Waiting for a flag with a time limit, for the stores' waits.

`asyncio.timeout` rather than `asyncio.wait_for` for an `asyncio.Event`: on Python 3.11, `wait_for`
can swallow the cancellation of the waiting task when the event is set at the same moment (CPython
gh-86296), and a generation that swallows its cancel never ends.

`Signal` is the flag of the waits that come with every chunk of every answer (is the run cancelled
before its next chunk is due?): a future and a timer per wait, where an event under a timeout
costs a timeout object, its rescheduling and the event's own future, several times over.
"""

from __future__ import annotations

import asyncio
import contextlib


async def event_within(event: asyncio.Event, timeout: float) -> bool:
    """Whether `event` is set, waiting up to `timeout` seconds for it."""
    if not event.is_set() and timeout > 0:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await event.wait()
    return event.is_set()


class Signal:
    """A flag that is set once; tasks wait for it, or for it with a time limit."""

    def __init__(self) -> None:
        self._set = False
        self._waiters: set[asyncio.Future[None]] = set()

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if self._set:
            return
        self._set = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait(self) -> None:
        if not self._set:
            await self._wait_for(None)

    async def within(self, timeout: float) -> bool:
        """Whether the flag is set, waiting up to `timeout` seconds for it."""
        if not self._set and timeout > 0:
            await self._wait_for(timeout)
        return self._set

    async def _wait_for(self, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(timeout, _expire, waiter) if timeout is not None else None
        self._waiters.add(waiter)
        try:
            # A plain future: a cancel of the waiting task always reaches it as `CancelledError`.
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            self._waiters.discard(waiter)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
