"""What `recoup-mock proxy` adds: a stop's latency and a stream's first chunk, direct and through it.

The mock and the proxy run as users start them (default flags, each on a free loopback port); the
stops are wrk's, the answers the default agent answer at the default pacing, timed from the
request's last byte to the arrival of each chunk (`pacing`).
"""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import replace

from bench import pacing, seeds
from bench.parts import Context
from bench.procs import serving
from bench.report import Row, ratio_row
from bench.tools import ROOT, say
from loopback import HOST, free_port

ANSWERS = 20


def proxy_part(ctx: Context) -> list[Row]:
    seed = seeds.stop_seed()
    seed_file = seeds.write(seed.seed, ctx.work / "proxy.json")
    mock_port, proxy_port = free_port(), free_port()
    proxy = [str(ctx.tools.mock), "proxy", "--upstream", f"http://{HOST}:{mock_port}", "--host", HOST]
    measure = f"stop, idle chat ({ctx.load.describe()})"
    alone = replace(ctx.load, threads=1, connections=1)  # the latency a hop adds, without queueing
    args = ["POST", f"/api/chat/{seed.chat}/stop", seeds.KEY_A]
    mock_command = ctx.mock(mock_port, seed_file, [])
    with (
        serving("recoup-mock serve", mock_command, mock_port, cwd=ROOT) as mock,
        serving("recoup-mock proxy", [*proxy, "--port", str(proxy_port)], proxy_port, cwd=ROOT) as front,
    ):
        servers = (mock, front)
        stops = [ctx.wrk_row(measure, server, "fixed", args, ctx.load) for server in servers]
        singles = [ctx.wrk_row(measure, server, "fixed", args, alone, warmup=0) for server in servers]
        firsts = []
        for server in servers:
            say(f"first chunk: {server.name}: {ANSWERS} default answers at once")
            answers = asyncio.run(pacing.measure(server.port, seeds.KEY_A, ANSWERS)).answers
            firsts.append(statistics.median(a.chunks[0][0] for a in answers) * 1000)
    direct, through = stops
    rows = [direct, through]
    ratio = ratio_row("  ratio", "proxy ÷ direct", through, direct)
    if ratio:
        rows.append(ratio)
    added = (singles[1].p50_ms or 0) - (singles[0].p50_ms or 0)
    rows.append(
        Row(
            f"first chunk of {ANSWERS} default answers",
            "direct / through the proxy",
            other=f"medians {firsts[0]:.0f} ms / {firsts[1]:.0f} ms (+{firsts[1] - firsts[0]:.1f} ms); "
            f"one connection's stop p50 {singles[0].p50_ms or 0:.2f} ms direct, +{added:.2f} ms through it",
            values={"first_chunk_ms": firsts, "stop_p50_added_ms": added},
        )
    )
    return rows
