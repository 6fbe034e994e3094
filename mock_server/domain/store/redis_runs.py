"""The Redis store's runs: a generation's chunk log as a Redis stream, its end, its cancel and the
leases that let another process end it when its own is gone.

A generation's chunks are a Redis stream whose entry n has the id `0-n`: any process serves a
resume from any index, and readers block on the stream (`XREAD BLOCK`) instead of polling. Only
the process that added a run, or took it over, writes it (`owner`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any

from mock_server.domain.models import Chunk, Run, RunStatus
from mock_server.domain.store import records
from mock_server.domain.store.base import RunForgotten, RunTaken
from mock_server.domain.store.redis_link import RedisLink, store_errors
from mock_server.domain.store.redis_waits import POLL, Waiters

TAKEN = -2
"""`APPEND_CHUNKS`'s answer to a process that no longer owns the run."""
MAX_INDEX = 2**63
"""Past any chunk a run can have; a larger start index reads from here."""


class RedisRuns:
    """The runs part of `RedisStore`, on its link to Redis."""

    _link: RedisLink
    _waiters: Waiters
    _run: Callable[..., Any]
    _call: Callable[..., Any]
    _key: Callable[..., str]
    _owner: str
    """This store's token in the runs it generates."""

    async def add_run(self, run: Run, lease: float) -> None:
        await self._run("ADD_RUN", run.id, records.run_text(run), round(lease * 1000), self._owner)

    async def get_run(self, run_id: str) -> Run | None:
        text, status = await self._call("HMGET", self._key("run", run_id), "record", "status")
        return records.run_of(text, status) if text else None

    async def append_chunks(self, run_id: str, chunks: Sequence[Chunk]) -> int:
        texts = [records.chunk_text(chunk) for chunk in chunks]
        length: int = await self._run("APPEND_CHUNKS", run_id, self._owner, *texts)
        if length == TAKEN:
            raise RunTaken(run_id)
        if length < 0:
            raise RunForgotten(run_id)
        return length

    async def append_chunk(self, run_id: str, chunk: Chunk) -> int:
        return await self.append_chunks(run_id, (chunk,))

    async def chunks(self, run_id: str) -> list[Chunk]:
        entries = await self._call("XRANGE", self._key("chunks", run_id), "-", "+")
        return [records.chunk_of(fields["c"]) for _, fields in _entries(entries) if "c" in fields]

    async def chunk_count(self, run_id: str) -> int:
        count = await self._call("HGET", self._key("run", run_id), "chunks")
        return int(count) if count else 0

    async def follow_chunks(self, run_id: str, start: int = 0) -> AsyncGenerator[Chunk, None]:
        stream = self._key("chunks", run_id)
        after = f"0-{min(start, MAX_INDEX)}"  # a stream id's sequence is 64 bits
        block: int | None = round(POLL * 1000)
        while True:
            with store_errors():
                read: Any = await self._link.redis.xread({stream: after}, count=500, block=block)
            for _, entries in read or ():
                for entry_id, fields in _entries(entries):
                    if "c" not in fields:
                        return  # the run's end
                    yield records.chunk_of(fields["c"])
                    after = entry_id
            if read:
                continue
            if block is None:
                return  # the last look after the run ended found nothing more
            status = await self._call("HGET", self._key("run", run_id), "status")
            if status is None:
                return  # forgotten
            if status != RunStatus.RUNNING:
                block = None  # ended past `start`: one more look for chunks written meanwhile

    async def finish_run(self, run_id: str, status: RunStatus, *, keep_for: float | None = None) -> None:
        keep_ms = -1 if keep_for is None else max(1, round(keep_for * 1000))
        await self._run("FINISH_RUN", run_id, status.value, keep_ms, self._owner)
        self._waiters.forget(run_id)

    async def wait_finished(self, run_id: str, timeout: float) -> RunStatus | None:
        async def status() -> RunStatus | None:
            value = await self._call("HGET", self._key("run", run_id), "status")
            found = RunStatus(value) if value else RunStatus.CANCELLED
            return found if found.terminal else None

        return await self._waiters.finished(run_id, status, timeout)

    async def request_cancel(self, run_id: str) -> bool:
        return bool(await self._run("REQUEST_CANCEL", run_id))

    async def wait_cancel_requested(self, run_id: str, timeout: float) -> bool:
        async def requested() -> bool:
            cancel, status = await self._call("HMGET", self._key("run", run_id), "cancel", "status")
            return bool(cancel) or status is None

        return await self._waiters.cancelled(run_id, requested, timeout)

    async def renew_leases(self, run_ids: Sequence[str], lease: float) -> list[str]:
        if not run_ids:
            return []
        lost: list[str] = await self._run("RENEW_LEASES", round(lease * 1000), self._owner, *run_ids)
        return lost

    async def lapsed_runs(self) -> dict[str, float]:
        lapsed = await self._run("LAPSED_RUNS")
        return {run_id: float(expiry) for run_id, expiry in zip(lapsed[::2], lapsed[1::2], strict=True)}

    async def take_over(self, run_id: str, lease: float, expiry: float) -> bool:
        return bool(await self._run("TAKE_OVER", run_id, round(lease * 1000), self._owner, repr(expiry)))

    async def running_runs(self) -> list[str]:
        running: list[str] = await self._call("ZRANGE", self._key("leases"), 0, -1)
        return running

    async def run_count(self) -> int:
        with store_errors():
            return len([key async for key in self._link.redis.scan_iter(match=self._key("run", "*"))])


def _entries(entries: Any) -> list[tuple[str, dict[str, str]]]:
    return [(str(entry_id), dict(fields)) for entry_id, fields in entries]
