"""The in-memory store's runs: each run's chunk log, its end and its cancel, and the leases, kept in
this process's memory and waited on with one-shot signals (`waiting`).

Every method runs without awaiting between reading and writing state, so each is atomic on the
event loop; that is what makes `request_cancel` exactly-once under concurrent stops.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field, replace

from mock_server.domain.models import Chunk, Run, RunStatus
from mock_server.domain.store.base import RunForgotten
from mock_server.domain.store.waiting import Signal


@dataclass
class _RunState:
    run: Run
    chunks: list[Chunk] = field(default_factory=list)
    news: Signal = field(default_factory=Signal)
    """Set when a chunk or the run's end comes, then replaced: what readers wait on."""
    cancel_requested: Signal = field(default_factory=Signal)
    finished: Signal = field(default_factory=Signal)

    def has_news(self, index: int) -> bool:
        """Whether a reader that has seen `index` chunks has something new to read."""
        return index < len(self.chunks) or self.run.status.terminal

    def announce(self) -> None:
        # An event per piece of news, set once: cheaper for the writer and every reader than a
        # condition's lock, taken once by the writer and again by each reader it wakes.
        self.news.set()
        self.news = Signal()


class MemoryRuns:
    """The runs part of `MemoryStore`."""

    def _empty_runs(self) -> None:
        self._runs: dict[str, _RunState] = {}
        self._leases: dict[str, float] = {}
        """Running runs' lease ends, on the monotonic clock."""

    def _cancel_every_run(self) -> None:
        for state in self._runs.values():
            state.cancel_requested.set()

    async def add_run(self, run: Run, lease: float) -> None:
        self._runs[run.id] = _RunState(run)
        self._leases[run.id] = time.monotonic() + lease

    async def get_run(self, run_id: str) -> Run | None:
        state = self._runs.get(run_id)
        return state.run if state else None

    async def append_chunks(self, run_id: str, chunks: Sequence[Chunk]) -> int:
        state = self._runs.get(run_id)
        if state is None:
            raise RunForgotten(run_id)
        if not state.run.status.terminal and chunks:
            state.chunks.extend(chunks)
            state.announce()
        return len(state.chunks)

    async def append_chunk(self, run_id: str, chunk: Chunk) -> int:
        return await self.append_chunks(run_id, (chunk,))

    async def chunks(self, run_id: str) -> list[Chunk]:
        state = self._runs.get(run_id)
        return list(state.chunks) if state else []

    async def chunk_count(self, run_id: str) -> int:
        state = self._runs.get(run_id)
        return len(state.chunks) if state else 0

    async def follow_chunks(self, run_id: str, start: int = 0) -> AsyncGenerator[Chunk, None]:
        state = self._runs[run_id]
        index = start
        while True:
            while index < len(state.chunks):
                yield state.chunks[index]
                index += 1
            if state.run.status.terminal:
                return
            news = state.news
            if not state.has_news(index):
                await news.wait()

    async def finish_run(self, run_id: str, status: RunStatus, *, keep_for: float | None = None) -> None:
        state = self._runs.get(run_id)
        if state is None:
            return
        if keep_for is not None and not state.run.status.terminal:
            asyncio.get_running_loop().call_later(keep_for, self._forget_finished, state)
        self._leases.pop(run_id, None)
        if not state.run.status.terminal:
            state.run = replace(state.run, status=status)
            state.announce()
        state.finished.set()

    async def wait_finished(self, run_id: str, timeout: float) -> RunStatus | None:
        state = self._runs.get(run_id)
        if state is None:
            return RunStatus.CANCELLED
        await state.finished.within(timeout)
        return state.run.status if state.run.status.terminal else None

    async def request_cancel(self, run_id: str) -> bool:
        state = self._runs.get(run_id)
        if state is None or state.run.status.terminal:
            return False
        first = not state.cancel_requested.is_set()
        state.cancel_requested.set()
        return first

    async def wait_cancel_requested(self, run_id: str, timeout: float) -> bool:
        state = self._runs.get(run_id)
        if state is None:
            return True
        return await state.cancel_requested.within(timeout)

    async def renew_leases(self, run_ids: Sequence[str], lease: float) -> list[str]:
        until = time.monotonic() + lease
        lost = []
        for run_id in run_ids:
            if run_id in self._leases:
                self._leases[run_id] = until
            else:
                lost.append(run_id)
        return lost

    async def lapsed_runs(self) -> dict[str, float]:
        moment = time.monotonic()
        return {run_id: until for run_id, until in self._leases.items() if until <= moment}

    async def take_over(self, run_id: str, lease: float, expiry: float) -> bool:
        until = self._leases.get(run_id)
        if until is None or until > time.monotonic() or until != expiry:
            return False
        self._leases[run_id] = time.monotonic() + lease
        return True

    async def running_runs(self) -> list[str]:
        return list(self._leases)

    def _forget_finished(self, state: _RunState) -> None:
        if self._runs.get(state.run.id) is state:
            del self._runs[state.run.id]

    async def run_count(self) -> int:
        return len(self._runs)
