"""A process's background tasks: loops that run until cancelled, and a stop that is bounded.

On Python 3.11 `asyncio.wait_for` swallows a task's cancellation when its inner future completes at
the same moment (CPython gh-86296), and redis-py awaits its commands through it. A loop that ends
only by `CancelledError` would then run on and hold the server's shutdown forever: so every loop
asks `cancelled()` at each turn, and every stop gives its task a bounded time to end.
"""

from __future__ import annotations

import asyncio
import contextlib

STOP_WAIT = 0.5
"""Seconds a stopped background task gets to end before it is left behind."""


def cancelled(task: asyncio.Task[object] | None = None) -> bool:
    """Whether the running task (or `task`, the running one looked up once by a busy loop) was
    asked to stop, though no `CancelledError` reached it."""
    task = task or asyncio.current_task()
    return task is not None and task.cancelling() > 0


def raise_if_cancelled(task: asyncio.Task[object] | None = None) -> None:
    """Raise the `CancelledError` a library swallowed, so the task ends as it was asked to."""
    if cancelled(task):
        raise asyncio.CancelledError


async def stop(task: asyncio.Task[object] | None, wait: float = STOP_WAIT) -> bool:
    """Cancel `task` and wait up to `wait` seconds for it; whether it ended."""
    if task is None:
        return True
    task.cancel()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait({task}, timeout=wait)
    if task.done() and not task.cancelled():
        task.exception()  # retrieved, so that asyncio does not log it as never retrieved
    return task.done()
