"""Leases between processes, on every store a pair of handles shares: a run is taken over when its
process is gone, within a lease of its last renewal, and never because the store stalled while its
process lived."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from mock_server.domain import chunks as ui
from mock_server.domain.answers import text_only
from mock_server.domain.generation import Generations, Pacing
from mock_server.domain.leases import PROCESS_LOST, LeaseKeeper
from mock_server.domain.models import Account, RunStatus
from mock_server.domain.service import ChatService
from mock_server.domain.store import ChatStore

A = Account(id="artist-a", api_keys=("key-a",))
LEASE = 0.8
PACING = Pacing(first_token=0.01, tokens_per_second=100, tool_seconds=0.05)

Pair = tuple[ChatStore, ChatStore]


class Process:
    """What one mock process holds: its service and generations on its handle, and its keeper."""

    def __init__(self, store: ChatStore) -> None:
        self.generations = Generations(store, pacing=PACING, stop_timeout=1.0, lease=LEASE)
        self.service = ChatService(store, self.generations)
        self.keeper = LeaseKeeper(self.generations)


@pytest.fixture
async def processes(store_pair: Pair) -> AsyncIterator[tuple[Process, Process]]:
    owner, other = Process(store_pair[0]), Process(store_pair[1])
    await owner.service.add_account(A)
    yield owner, other
    await owner.service.close()
    await other.service.close()


async def a_long_run(owner: Process) -> str:
    _, chat = await owner.service.sessions.create_session(A, title="leased")
    run = await owner.service.generate(chat.id, text_only("on and on " * 50, repeat=True), fault=None)
    return run.id


async def ticks_until_ended(keeper: LeaseKeeper, run_id: str, within: float) -> float:
    """Tick as a keeper does until it ends `run_id`; the seconds that took."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if run_id in await keeper.tick():
            return time.monotonic() - started
        await asyncio.sleep(keeper.interval)
    pytest.fail(f"{run_id} was not taken over within {within} s")


async def test_a_run_whose_process_stopped_renewing_is_taken_over_within_a_lease(
    processes: tuple[Process, Process],
):
    owner, other = processes
    run_id = await a_long_run(owner)
    assert await owner.keeper.tick() == []  # its last renewal: then the process dies
    owner.generations.abandon(run_id)
    took = await ticks_until_ended(other.keeper, run_id, within=3 * LEASE)
    assert took <= LEASE + other.keeper.interval
    said = await other.service.store.chunks(run_id)
    assert said[-1] == ui.error_chunk(PROCESS_LOST)
    run = await other.service.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.FAILED


async def test_a_store_that_stalled_longer_than_a_lease_hands_no_live_run_over(
    processes: tuple[Process, Process],
):
    owner, other = processes
    run_id = await a_long_run(owner)
    # A stall: nobody reaches the store for more than a lease, so every hold has lapsed when it
    # answers again, and the other process is the first to look.
    await asyncio.sleep(LEASE * 1.2)
    assert await other.keeper.tick() == []
    assert await owner.keeper.tick() == []  # the owner renews as soon as it is answered
    for _ in range(12):  # ticks over more than a lease
        await asyncio.sleep(other.keeper.interval)
        assert await other.keeper.tick() == []
        assert await owner.keeper.tick() == []
    run = await owner.service.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.RUNNING
    assert owner.generations.is_local(run_id)
