"""A background loop ends when cancelled even if a library swallowed the cancel, and its stop is bounded."""

from __future__ import annotations

import asyncio
import contextlib
import time

from mock_server.domain import tasks


async def _swallows_cancel_once(turns: list[int]) -> None:
    """A loop whose await swallows its cancellation, as Python 3.11's `wait_for` may (gh-86296)."""
    while True:
        # What the library did: the task goes on, its `cancelling()` count still 1.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.01)
        turns.append(1)
        tasks.raise_if_cancelled()


async def test_a_loop_whose_cancel_was_swallowed_still_ends():
    turns: list[int] = []
    task = asyncio.create_task(_swallows_cancel_once(turns))
    await asyncio.sleep(0.05)
    assert await tasks.stop(task, wait=1.0)
    assert task.cancelled()
    ran = len(turns)
    await asyncio.sleep(0.05)
    assert len(turns) == ran, "the loop turned after it ended"


async def test_stopping_a_task_that_ignores_cancel_waits_no_longer_than_asked():
    release = asyncio.Event()

    async def ignores_cancel() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.01)

    task = asyncio.create_task(ignores_cancel())
    await asyncio.sleep(0.05)  # under way, inside its loop
    started = time.monotonic()
    assert not await tasks.stop(task, wait=0.2)
    assert time.monotonic() - started < 1.0
    release.set()
    await task


async def test_stopping_no_task_is_a_no_op():
    assert await tasks.stop(None)
