"""Waiting for an event with a time limit, for the stores' waits.

`asyncio.timeout` rather than `asyncio.wait_for`: on Python 3.11, `wait_for` can swallow the
cancellation of the waiting task when the event is set at the same moment (CPython gh-86296), and a
generation that swallows its cancel never ends.
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
