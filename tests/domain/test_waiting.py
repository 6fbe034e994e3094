"""The stores' flag: set once, waited on with a time limit, and never swallowing a task's cancel."""

from __future__ import annotations

import asyncio
import time

import pytest

from mock_server.domain.store.waiting import Signal


async def test_setting_the_flag_wakes_every_waiter_at_once():
    signal = Signal()
    waiters = [asyncio.create_task(signal.within(10)) for _ in range(3)] + [
        asyncio.create_task(signal.wait())
    ]
    await asyncio.sleep(0)
    started = time.monotonic()
    signal.set()
    assert await asyncio.gather(*waiters) == [True, True, True, None]
    assert time.monotonic() - started < 1


async def test_a_wait_ends_at_its_time_limit_with_the_flag_unset():
    signal = Signal()
    started = time.monotonic()
    assert await signal.within(0.05) is False
    assert 0.04 <= time.monotonic() - started < 1
    assert await signal.within(0) is False


async def test_a_set_flag_answers_at_once_and_stays_set():
    signal = Signal()
    signal.set()
    signal.set()
    assert signal.is_set() and await signal.within(10) is True


async def test_a_cancel_that_comes_as_the_flag_is_set_still_cancels_the_waiter():
    # The case `asyncio.wait_for` gets wrong on Python 3.11 (CPython gh-86296).
    signal = Signal()
    waiter = asyncio.create_task(signal.within(10))
    await asyncio.sleep(0)
    signal.set()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert waiter.cancelled()


async def test_a_cancelled_wait_leaves_no_waiter_behind():
    signal = Signal()
    waiter = asyncio.create_task(signal.within(10))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not signal._waiters
    loop = asyncio.get_running_loop()
    assert not [
        h for h in getattr(loop, "_scheduled", []) if not h.cancelled() and h.when() > loop.time() + 5
    ]
