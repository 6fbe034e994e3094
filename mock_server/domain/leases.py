"""Leases: how several processes sharing a store keep a dead process from holding chats forever.

Every process renews the leases of the runs it generates every `lease / 8` s, each renewal holding
a run for `lease / 2` (on the store's clock). A run whose hold has lapsed is only a suspect: a
store that stalled (a Redis busy for seconds) lets every hold lapse while no process could renew
it. It is taken over once it has stayed lapsed, with no renewal, for `lease / 4` of the taker's own
clock after the store answered again, which gives a live owner time to renew first, however long
the stall; a process that died is still taken over within a `lease` of its last renewal.

Exactly one process takes a run over, and it ends the run as the dead process would have on a
failure: every tool call left open is cancelled, an `error` chunk says why, the message keeps what
was said, and the chat is free again. A process that finds its own lease taken stops generating
that run without touching what the taker stored.
"""

from __future__ import annotations

import asyncio
import logging
import time

from mock_server.domain import chunks as ui
from mock_server.domain import tasks
from mock_server.domain.errors import StoreUnavailable
from mock_server.domain.generation import Generations, save_and_release
from mock_server.domain.models import RunStatus
from mock_server.domain.store import ChatStore, RunForgotten

log = logging.getLogger(__name__)

PROCESS_LOST = "The process generating this answer stopped"
"""The `errorText` of a run whose process died and which another process ended."""
RENEWALS_PER_LEASE = 8
"""Ticks of the keeper per lease: each renews this process's runs and looks for lapsed ones."""
SUSPECT_FOR = 0.25
"""Part of a lease a lapsed run stays lapsed, unrenewed, before it is taken over."""


async def end_abandoned(store: ChatStore, run_id: str, max_messages: int, retention: float) -> bool:
    """End a run taken over from a lost process; False when it is gone or over already."""
    run = await store.get_run(run_id)
    if run is None or run.status.terminal:
        return False
    said = await store.chunks(run_id)
    open_calls = ui.OpenToolCalls()
    for chunk in said:
        open_calls.saw(chunk)
    closing = list(open_calls.closing())
    await store.append_chunks(run_id, [chunk for chunk, _ in closing] + [ui.error_chunk(PROCESS_LOST)])
    ending = [chunk for chunk, saved in closing if saved]
    await save_and_release(store, run, said + ending, RunStatus.FAILED, max_messages, retention)
    return True


class LeaseKeeper:
    """Renews this process's leases and ends the runs of lost processes, every `lease / 4` s."""

    def __init__(self, generations: Generations) -> None:
        self.generations = generations
        self.store: ChatStore = generations.store
        self._task: asyncio.Task[None] | None = None
        self._suspects: dict[str, tuple[float, float]] = {}
        """Lapsed runs of other processes: the expiry they had when first seen lapsed, and when
        (this process's monotonic clock, once the store had answered)."""

    @property
    def interval(self) -> float:
        return self.generations.lease / RENEWALS_PER_LEASE

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._keep(), name="lease-keeper")

    async def stop(self) -> None:
        await tasks.stop(self._task)
        self._task = None

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            tasks.raise_if_cancelled()
            try:
                await self.tick()
            except StoreUnavailable:
                pass  # logged by the store; the next tick tries again
            except Exception:
                log.exception("keeping the generations' leases failed")

    async def tick(self) -> list[str]:
        """Renew this process's leases, then end every run lapsed for long enough; the ids of
        the runs it ended."""
        hold = self.generations.hold
        for run_id in await self.store.renew_leases(self.generations.running_ids(), hold):
            self.generations.abandon(run_id)
        ended = []
        for run_id, expiry in self._confirmed(await self.store.lapsed_runs()):
            if await self.store.take_over(run_id, hold, expiry):
                try:
                    ended_now = await end_abandoned(
                        self.store, run_id, self.generations.max_messages, self.generations.retention
                    )
                    if ended_now:
                        log.warning("ended %s, whose process stopped renewing its lease", run_id)
                        ended.append(run_id)
                except RunForgotten:
                    pass
        return ended

    def _confirmed(self, lapsed: dict[str, float]) -> list[tuple[str, float]]:
        """The lapsed runs of other processes seen lapsed, with the same expiry, for long enough."""
        seen_at = time.monotonic()
        wait = self.generations.lease * SUSPECT_FOR
        suspects, confirmed = {}, []
        for run_id, expiry in lapsed.items():
            if self.generations.is_local(run_id):
                continue  # ours, renewed too late: the next tick renews it
            first = self._suspects.get(run_id)
            since = first[1] if first is not None and first[0] == expiry else seen_at
            if seen_at - since >= wait:
                confirmed.append((run_id, expiry))
            else:
                suspects[run_id] = (expiry, since)
        self._suspects = suspects
        return confirmed
