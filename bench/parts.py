"""The measured parts, each returning its rows: mix, streams, pacing, scale, contract (and stop in
bench/stop.py, agents in bench/agents.py, workers in bench/workers.py, proxy in bench/proxying.py).

Each part starts the servers it measures one at a time, on loopback and a free port, and stops
each before the next starts. wrk runs the same unmeasured warm-up (`Context.warmup`) before every
measured run, whatever the server (the proxy part's one-connection runs follow its loaded runs on
the same servers instead).
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

from bench import pacing, seeds, streams, wrk
from bench.procs import Server, serving
from bench.report import Row
from bench.tools import ROOT, Tools, say
from loopback import HOST, free_port


@dataclass
class Context:
    """What every part runs with: the tools found, wrk's load and warm-up, a work directory, sizes."""

    tools: Tools
    load: wrk.Load
    warmup: int
    """Seconds of unmeasured wrk load before each measured wrk run, the same for every server."""
    work: Path
    streams: int = 200
    sessions: int = 1000
    chats_per_session: int = 100
    workers_counts: tuple[int, ...] = (1, 2, 4)

    @property
    def quiet_flags(self) -> list[str]:
        """The mock's fastest logging: `--quiet` when it has one, else `--log-level warning`."""
        return ["--quiet"] if self.tools.mock_quiet else ["--log-level", "warning"]

    @property
    def quiet_name(self) -> str:
        return "recoup-mock " + " ".join(self.quiet_flags)

    def mock(self, port: int, seed: Path, flags: list[str] | None = None) -> list[str]:
        flags = self.quiet_flags if flags is None else flags
        return [
            str(self.tools.mock),
            "serve",
            "--host",
            HOST,
            "--port",
            str(port),
            "--seed",
            str(seed),
            *flags,
        ]

    def wrk_row(
        self,
        measure: str,
        server: Server,
        script: str,
        args: list[str],
        load: wrk.Load,
        *,
        reset: bool = False,
        warmup: int | None = None,
        whole_tree: bool = False,
    ) -> Row:
        """wrk's warm-up, then (`reset`: the mock back to its seed, `POST /__mock/reset`) its run.

        `whole_tree`: the RSS noted is the server's and every process's it started (its workers).
        """
        assert self.tools.wrk is not None
        warmup = self.warmup if warmup is None else warmup
        if warmup:
            wrk.run(self.tools.wrk, server.base_url, script, args, replace(load, duration=warmup))
        if reset:
            request = urllib.request.Request(server.base_url + "/__mock/reset", method="POST")
            with urllib.request.urlopen(request, timeout=60) as answer:
                answer.read()
        say(f"{measure}: {server.name}: {load.describe()}")
        result = wrk.run(self.tools.wrk, server.base_url, script, args, load)
        faults = []
        if result.non_2xx and script != "mix":
            faults.append(f"{result.non_2xx:,} non-2xx!")
        if result.socket_errors:
            faults.append(f"{result.socket_errors:,} socket errors/timeouts")
        rss = server.tree_rss_mb() if whole_tree else server.rss_mb()
        memory = [f"RSS {rss:.0f} MB" + (" (all processes)" if whole_tree else "")] if rss else []
        other = ", ".join([f"{result.requests:,} requests", *faults, *memory])
        return Row(measure, server.name, result.rps, result.p50_ms, result.p99_ms, other, values=vars(result))


def mix_part(ctx: Context) -> list[Row]:
    """Stops rotating among running, idle, foreign and unknown chats (lua/mix.lua)."""
    mix = seeds.mix_seed(ctx.load.threads)
    seed_file = seeds.write(mix.seed, ctx.work / "mix.json")
    ids = mix.lua_file(ctx.work / "mix.txt")
    port = free_port()
    measure = "mix: stops of running/idle/foreign/unknown chats + re-arm"
    with serving(ctx.quiet_name, ctx.mock(port, seed_file), port, cwd=ROOT) as server:
        args = [str(ids), seeds.KEY_A, str(ctx.load.threads), str(seeds.MIX_LAG)]
        row = ctx.wrk_row(measure, server, "mix", args, ctx.load, reset=True)
    tally = row.values.get("tally", {})
    names = ("stopped_true", "stopped_false", "forbidden", "not_found", "armed", "other")
    labels = ("stopped:true", "stopped:false", "403", "404", "re-armed", "other")
    counts = ", ".join(f"{label} {tally.get(n, 0):,}" for n, label in zip(names, labels, strict=True))
    statuses = {n.removeprefix("status_"): c for n, c in tally.items() if n.startswith("status_")}
    counts += "".join(f" ({status}: {count:,})" for status, count in statuses.items())
    row.other = f"{counts}; {row.other}"
    return [row]


def streams_part(ctx: Context) -> list[Row]:
    """Stop-to-stream-end p50/p99 with `ctx.streams` streams open, all stopped at once."""
    chats, seed = seeds.streams_seed(ctx.streams)
    seed_file = seeds.write(seed, ctx.work / "streams.json")
    port = free_port()
    with serving(ctx.quiet_name, ctx.mock(port, seed_file), port, cwd=ROOT) as server:
        say(f"streams: {server.name}: {ctx.streams} streams, then {ctx.streams} stops at once")
        result = asyncio.run(streams.measure(port, chats, seeds.KEY_A))
    other = (
        f"{result.ended}/{ctx.streams} ended ({result.with_done} with [DONE], {result.opened} open before), "
        f"{result.stopped_true} stopped:true; stop answered p50 {result.answer_p(50):.0f} ms, "
        f"p99 {result.answer_p(99):.0f} ms; target p99 < 100 ms"
    )
    measure = f"stop → stream end, {ctx.streams} open streams"
    return [Row(measure, server.name, None, result.end_p(50), result.end_p(99), other, values=vars(result))]


def pacing_part(ctx: Context) -> list[Row]:
    """How the default answer streams at the default pacing: first content, delta rates, tool wait."""
    seed_file = seeds.write(seeds.stop_seed().seed, ctx.work / "pacing.json")
    port = free_port()
    answers = 8
    with serving(ctx.quiet_name, ctx.mock(port, seed_file), port, cwd=ROOT) as server:
        say(f"pacing: {server.name}: {answers} default answers at once, default pacing")
        result = asyncio.run(pacing.measure(port, seeds.KEY_A, answers)).summary()
    other = (
        f"medians of {answers}: first content {result['first_content_s'] * 1000:.0f} ms after the request; "
        f"reasoning {result['reasoning_deltas_per_s']:.1f} and "
        f"text {result['text_deltas_per_s']:.1f} deltas/s; "
        f"tool runs {result['tool_wait_s']:.2f} s; whole answer {result['answer_s']:.1f} s "
        "(defaults: --first-token-delay 0.35, --tokens-per-second 40, --tool-seconds 1.5)"
    )
    return [Row("default answer pacing", server.name, other=other, values=result)]


def scale_part(ctx: Context) -> list[Row]:
    """Start-up and RSS with many stored chats; one session's list at that size."""
    total = ctx.sessions * ctx.chats_per_session
    session, seed = seeds.scale_seed(ctx.sessions, ctx.chats_per_session)
    seed_file = seeds.write(seed, ctx.work / "scale.json")
    size_mb = seed_file.stat().st_size / 1e6
    port = free_port()
    say(f"scale: {total:,} chats ({ctx.sessions:,} sessions x {ctx.chats_per_session}, 2 accounts)")
    with serving(ctx.quiet_name, ctx.mock(port, seed_file), port, cwd=ROOT, timeout=600) as server:
        rss = server.rss_mb() or 0.0
        started = server.started_in
        startup = Row(
            f"start-up and RSS, {total:,} chats",
            server.name,
            other=f"start-up {started:.2f} s (process start → first HTTP answer); "
            f"RSS {rss:.0f} MB after start; seed file {size_mb:.1f} MB; target RSS < 200 MB",
            values={"startup_s": started, "rss_mb": rss, "seed_mb": size_mb},
        )
        rows = [startup]
        if ctx.tools.wrk:
            load = wrk.Load(threads=1, connections=1, duration=ctx.load.duration, timeout=ctx.load.timeout)
            measure = f"list {ctx.chats_per_session} chats of {total:,} ({load.describe()})"
            path = f"/api/sessions/{session}/chats"
            listing = ctx.wrk_row(measure, server, "fixed", ["GET", path, seeds.KEY_A], load)
            peak = server.peak_rss_mb()
            listing.other += f", peak RSS {peak:.0f} MB" if peak else ""
            rows.append(listing)
        else:
            rows.append(Row("list latency", server.name, other="not run: wrk is missing (see above)"))
    return rows


def contract_part(ctx: Context) -> list[Row]:
    """`recoup-contract` with its default profile, in-process: wall time."""
    if ctx.tools.contract is None:
        return [
            Row(
                "contract suite, default profile",
                "recoup-contract",
                other="not run: recoup-contract not found",
            )
        ]
    say("contract: recoup-contract (default profile, in-process)")
    started = time.perf_counter()
    done = subprocess.run(
        [str(ctx.tools.contract)], cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False
    )
    wall = time.perf_counter() - started
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    summary = next((line for line in reversed(lines) if " passed" in line or " failed" in line), "")
    other = f"{wall:.1f} s wall, exit {done.returncode}" + (f" ({summary})" if summary else "")
    return [
        Row(
            "contract suite, default profile (in-process)",
            "recoup-contract",
            other=other,
            values={"wall_s": wall},
        )
    ]
