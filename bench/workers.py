"""The `workers` part: the stop's throughput and stop-to-stream-end, in memory beside Redis workers.

In one run, one server at a time: the mock as it runs by default (the in-memory store, one
process), then on a Redis store with `--workers N` for each N of `Context.workers_counts`. Each
gets the `stop` part's wrk load (a stop of an idle chat) and, on a server of its own, the `streams`
part's measure (`Context.streams` open streams, all stopped at once, each timed from its stop's
sending until its stream ends); then every Redis row's ratio to the in-memory one. With several
workers, a stream and its stop mostly land in different processes: the stop goes through Redis.

The part starts its own `redis-server` (loopback, a free port, no persistence, in the bench's work
directory), gives every server its own `--store-prefix`, empties Redis (FLUSHALL) after each, and
stops everything it started. A server counts as started once HTTP answers and, with workers, once
they all exist and their CPU time stands still: until then, the first one up takes every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench import seeds, streams, wrk
from bench.parts import Context
from bench.procs import Server, cpu_ticks, descendants, serving
from bench.report import Row, ratio_row
from bench.tools import ROOT, say
from loopback import HOST, Redis, ServerFailed, free_port, redis_server

SETTLE = 0.25
"""Seconds the server's processes must use no CPU for their start-up to count as done."""
SETTLE_TIMEOUT = 60.0
"""Seconds the workers get to settle; after that the measure runs anyway (and says so)."""
ARMED_TEXT = (seeds.LONG_ANSWER * 12).strip()
"""What each chat of the stop-latency measure answers: ~1,300 deltas, over 30 s at the default 40/s,
so none ends before its stop (a seeded answer starts before the workers settle, and ends before)."""


def find_redis(ctx: Context) -> str | None:
    """`redis-server` on the PATH, noted with its version for the report; None (noted) when absent."""
    found = shutil.which("redis-server")
    if found is None:
        ctx.tools.note(
            "redis-server: not found (Debian/Ubuntu: sudo apt-get install -y redis-server); "
            "the workers part measures the in-memory store only"
        )
        return None
    words = subprocess.run([found, "--version"], capture_output=True, text=True, check=False).stdout.split()
    version = next((w[2:] for w in words if w.startswith("v=")), "unknown")
    ctx.tools.versions["redis-server"] = version
    ctx.tools.note(f"redis-server: {found} (found, version {version})")
    return found


@dataclass(frozen=True)
class Setup:
    """One way of serving: its name in the table, its `serve` flags, its workers, its store."""

    name: str
    flags: tuple[str, ...]
    workers: int = 1
    redis: bool = False


def setups(ctx: Context) -> tuple[Setup, list[Setup]]:
    """The in-memory single process (the mock's default, quiet) and one Redis setup per count."""
    quiet = tuple(ctx.quiet_flags)
    memory = Setup(f"{ctx.quiet_name}, memory store", quiet)
    name = "recoup-mock --workers {} --store redis:// " + " ".join(quiet)
    return memory, [Setup(name.format(n), ("--workers", str(n), *quiet), n, True) for n in ctx.workers_counts]


def wait_settled(server: Server, workers: int) -> None:
    """Until the server has its `workers` processes (beyond 1) and none of them uses CPU for SETTLE s."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    last: int | None = None
    while time.monotonic() < deadline:
        server.check_alive()
        below = descendants(server.process.pid)
        ticks = cpu_ticks([server.process.pid, *below]) if workers < 2 or len(below) >= workers else None
        if ticks is not None and ticks == last:
            return
        last = ticks
        time.sleep(SETTLE)
    say(f"{server.name}: still starting after {SETTLE_TIMEOUT:.0f} s; measured anyway")


@contextlib.contextmanager
def running(ctx: Context, setup: Setup, seed_file: Path, redis: Redis | None) -> Iterator[Server]:
    """`setup` serving `seed_file` (on Redis: under a key prefix of its own) until the block ends."""
    port = free_port()
    flags = list(setup.flags)
    if setup.redis:
        assert redis is not None
        flags += ["--store", redis.url, "--store-prefix", f"bench-{uuid.uuid4().hex[:12]}"]
    try:
        with serving(setup.name, ctx.mock(port, seed_file, flags), port, cwd=ROOT) as server:
            wait_settled(server, setup.workers)
            yield server
    finally:
        if setup.redis and redis is not None:
            with contextlib.suppress(OSError):  # every key gone, so no run pays for the last
                redis.command("FLUSHALL")


def _failed(measure: str, setup: Setup, exc: Exception) -> Row:
    say(f"workers: {setup.name}: FAILED: {exc}")
    first = str(exc).splitlines()[0] if str(exc) else repr(exc)
    return Row(measure, setup.name, other=f"FAILED: {first}", values={"failed": True})


def throughput_row(ctx: Context, measure: str, setup: Setup, redis: Redis | None) -> Row:
    """The `stop` part's load (wrk, lua/fixed.lua: a stop of an idle chat) on `setup`."""
    seed = seeds.stop_seed()
    seed_file = seeds.write(seed.seed, ctx.work / "workers-stop.json")
    args = ["POST", f"/api/chat/{seed.chat}/stop", seeds.KEY_A]
    try:
        with running(ctx, setup, seed_file, redis) as server:
            return ctx.wrk_row(measure, server, "fixed", args, ctx.load, whole_tree=True)
    except (ServerFailed, wrk.WrkFailed) as exc:
        return _failed(measure, setup, exc)


async def arm(port: int, chats: list[str]) -> int:
    """Start ARMED_TEXT's generation on every chat at once (`POST /__mock/chats/{id}/generate`, each
    on its own connection, so that with workers they spread over the processes); how many started."""
    body = json.dumps({"text": ARMED_TEXT, "repeat": False}).encode()

    async def one(chat: str) -> bool:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            head = (
                f"POST /__mock/chats/{chat}/generate HTTP/1.1\r\nHost: {HOST}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            return (await reader.readline()).split(b" ")[1:2] == [b"200"]
        finally:
            writer.close()

    started = await asyncio.wait_for(asyncio.gather(*(one(chat) for chat in chats)), streams.TIMEOUT)
    return sum(started)


def warnings(server: Server) -> str:
    """`; N warnings logged, the last: ...` from the server's stderr, or "" when it logged none."""
    lines = [line for line in server.tail(10_000).splitlines() if line.startswith(("WARNING", "ERROR"))]
    return f"; {len(lines)} warnings logged, the last: {lines[-1][:120]}" if lines else ""


def _ms(value: float) -> float | None:
    return None if math.isnan(value) else value


def latency_row(ctx: Context, measure: str, setup: Setup, redis: Redis | None) -> Row:
    """The `streams` part's measure on `setup`, its chats' answers started once it has settled:
    p50/p99 (p95 noted) from each stop's sending to its stream's end."""
    chats, seed = seeds.streams_seed(ctx.streams, armed=False)
    seed_file = seeds.write(seed, ctx.work / "workers-streams.json")
    try:
        with running(ctx, setup, seed_file, redis) as server:
            say(f"workers: {server.name}: {ctx.streams} answers started, streamed, then all stopped at once")
            try:
                armed = asyncio.run(arm(server.port, chats))
                result = asyncio.run(streams.measure(server.port, chats, seeds.KEY_A))
            except TimeoutError as exc:
                why = f"not every answer started or streamed within {streams.TIMEOUT:.0f} s"
                raise ServerFailed(why + warnings(server)) from exc
            logged = warnings(server)
    except (ServerFailed, OSError) as exc:
        return _failed(measure, setup, exc)
    p95 = streams.percentile(result.end_ms, 95)
    other = (
        f"{result.ended}/{ctx.streams} ended ({result.with_done} with [DONE], {result.opened} open before, "
        f"{armed} armed), {result.stopped_true} stopped:true; "
        + (f"end p95 {p95:.0f} ms; " if result.end_ms else "")
        + f"stop answered p50 {result.answer_p(50):.0f} ms, p99 {result.answer_p(99):.0f} ms{logged}"
    )
    values = {**vars(result), "armed": armed, "end_p95_ms": _ms(p95)}
    return Row(measure, setup.name, None, _ms(result.end_p(50)), _ms(result.end_p(99)), other, values=values)


def _measure_all(ctx: Context, redis: Redis | None) -> tuple[list[Row], list[Row]]:
    """Throughput rows and stop-latency rows, each with the Redis rows' ratios to the memory row."""
    memory, on_redis = setups(ctx)
    throughput = f"workers: stop, idle chat ({ctx.load.describe()})"
    latency = f"workers: stop → stream end, {ctx.streams} open streams"
    tables: tuple[list[Row], list[Row]] = ([], [])
    for setup in [memory, *on_redis]:
        if setup.redis and redis is None:
            for measure, rows in zip((throughput, latency), tables, strict=True):
                rows.append(Row(measure, setup.name, other="not run: no redis-server (see above)"))
            continue
        missing = Row(throughput, setup.name, other="not run: wrk is missing (see above)")
        tables[0].append(throughput_row(ctx, throughput, setup, redis) if ctx.tools.wrk else missing)
        tables[1].append(latency_row(ctx, latency, setup, redis))
    for rows in tables:
        base, others = rows[0], rows[1:]
        for setup, row in zip(on_redis, others, strict=True):
            ratio = ratio_row("  ratio", f"--workers {setup.workers}, Redis ÷ memory, 1 process", row, base)
            rows.extend([ratio] if ratio else [])
    return tables


def workers_part(ctx: Context) -> list[Row]:
    """In-memory single process beside Redis with `ctx.workers_counts` workers: stop throughput and
    stop-to-stream-end, with ratios to the in-memory process."""
    executable = find_redis(ctx)
    with contextlib.ExitStack() as stack:
        redis: Redis | None = None
        if executable:
            try:
                redis = stack.enter_context(redis_server(executable, ctx.work))
                say(f"workers: redis-server on {redis.url} (no persistence)")
            except ServerFailed as exc:
                ctx.tools.note(f"redis-server: FAILED to start: {exc}")
        throughput, latency = _measure_all(ctx, redis)
    return [*throughput, *latency]
