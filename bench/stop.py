"""The `stop` part: the stop of an idle chat under wrk, for the mock as users start it and its peers.

Rows, one server at a time: `recoup-mock serve` with its default flags (access log and request
journal on: what a user runs) and with `--quiet`; the peers a user would pick instead, each
answering the stop route with a fixed body: Prism 5 (`prism mock` of the published spec,
`-v error`), WireMock 3 standalone (one stub, bench/peers.py finds it), Mockoon CLI 9 (the
published spec imported); and the ceiling (a bare ASGI app under the mock's own server). Every
server gets the same unmeasured warm-up (`--warmup`). Then each mock row ÷ the fastest peer by
req/s, and ÷ the ceiling.

A peer is asked the stop once before it is measured: one that does not answer it with 200 (a 404
of a route it did not import, say) is noted and not measured, as it would be no comparison.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import seeds, wrk
from bench.parts import Context
from bench.procs import serving
from bench.report import TIMES, Row, ratio_row
from bench.tools import ROOT, say
from loopback import HOST, ServerFailed, free_port

SPEC = ROOT / "openapi" / "upstream" / "stop-chat.yaml"
IDLE_BODY = '{"success":true,"stopped":false}'
"""What the mock answers the stop of an idle chat; WireMock's stub answers the same."""
WIREMOCK_STUB = {
    "request": {"method": "POST", "urlPathPattern": "/api/chat/[^/]+/stop"},
    "response": {"status": 200, "headers": {"Content-Type": "application/json"}, "body": IDLE_BODY},
}
TARGETS = {
    "": f"target: req/s ≥ 1.50{TIMES}, p99 ≤ 1.00{TIMES}",
    "--quiet": f"target: req/s ≥ 2.00{TIMES}",
}
"""The `other` column of each mock row's ratio to the fastest peer, by its flags."""


def wiremock_root(directory: Path) -> Path:
    """A WireMock root directory (`--root-dir`) whose one mapping answers the stop route."""
    mappings = directory / "mappings"
    mappings.mkdir(parents=True, exist_ok=True)
    (mappings / "stop.json").write_text(json.dumps(WIREMOCK_STUB, indent=2) + "\n", encoding="utf-8")
    return directory


def ask_stop(base_url: str, path: str, key: str = seeds.KEY_A) -> tuple[int, bytes]:
    """One `POST path` with the key: the status and body (4xx and 5xx included)."""
    request = urllib.request.Request(base_url + path, method="POST", headers={"x-api-key": key}, data=b"")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status), bytes(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read()


@dataclass(frozen=True)
class Peer:
    """A server a user might pick instead of the mock: its name in the table, its command by port."""

    name: str
    command: Callable[[int], list[str]]


def peers(ctx: Context) -> list[Peer]:
    """Prism, WireMock and Mockoon, those found (bench/tools.py, bench/peers.py)."""
    found, versions = ctx.tools, ctx.tools.versions
    chosen: list[Peer] = []
    if found.prism:
        prism = found.prism
        chosen.append(
            Peer(
                f"Prism {versions.get('prism', '')} mock -v error".replace("  ", " "),
                lambda port: [prism, "mock", str(SPEC), "-h", HOST, "-p", str(port), "-v", "error"],
            )
        )
    if found.wiremock and found.java:
        jar, java, root = found.wiremock, found.java, wiremock_root(ctx.work / "wiremock")
        chosen.append(
            Peer(
                f"WireMock {versions.get('wiremock', '')} standalone, 1 stub".replace("  ", " "),
                lambda port: [
                    *(java, "-jar", jar, "--port", str(port), "--bind-address", HOST),
                    *("--root-dir", str(root), "--disable-banner"),
                ],
            )
        )
    if found.mockoon:
        mockoon = found.mockoon
        # Its quietest: no log file (-X). Its console log (one line per request, at a level 9.x
        # fixes at info) goes to /dev/null; one transaction kept for the admin API, not 100.
        flags = ["--disable-log-to-file", "--max-transaction-logs", "1"]
        chosen.append(
            Peer(
                f"Mockoon CLI {versions.get('mockoon-cli', '')} start, spec imported, -X".replace("  ", " "),
                lambda port: [
                    *(mockoon, "start", "--data", str(SPEC), "--port", str(port), "--hostname", HOST),
                    *flags,
                ],
            )
        )
    return chosen


def _measured(
    ctx: Context, measure: str, name: str, command: list[str], port: int, path: str, *, check: bool = False
) -> Row:
    """One server's stop row; a server that fails is a FAILED row, and the other servers still run.

    `check`: ask the stop once first; a server answering it other than 200 is noted, not measured.
    """
    try:
        with serving(name, command, port, cwd=ROOT) as server:
            if check:
                status, body = ask_stop(server.base_url, path)
                if status != 200:
                    text = body.decode(errors="replace").strip()[:80]
                    ctx.tools.note(f"{name}: answers the stop {status} ({text!r}); not measured")
                    why = f"not measured: answers the stop {status}, so no comparison"
                    return Row(measure, name, other=why, values={"status": status})
            return ctx.wrk_row(measure, server, "fixed", ["POST", path, seeds.KEY_A], ctx.load)
    except (ServerFailed, wrk.WrkFailed) as exc:
        say(f"{name}: FAILED: {exc}")
        return Row(measure, name, other=f"FAILED: {str(exc).splitlines()[0]}", values={"failed": True})


def fastest(rows: Sequence[Row]) -> Row | None:
    """The row with the highest req/s among those measured cleanly (not FAILED, no non-2xx)."""
    clean = [r for r in rows if r.rps and not r.values.get("failed") and not r.values.get("non_2xx")]
    return max(clean, key=lambda r: r.rps or 0.0, default=None)


def ratio_rows(mocks: Sequence[Row], peer: Row | None, ceiling: Row | None) -> list[Row]:
    """Each mock row ÷ the fastest peer (named, with its target) and ÷ the ceiling."""
    rows: list[Row] = []
    for mock in mocks:
        flags = mock.subject.removeprefix("recoup-mock serve").strip()
        short = f"serve {flags}".strip()
        target = TARGETS.get(flags, "")
        if peer is None:
            rows.append(
                Row("  ratio", f"mock ({short}) ÷ fastest peer", other="no peer measured (see Tools)")
            )
        elif row := ratio_row(
            "  ratio", f"mock ({short}) ÷ fastest peer, {peer.subject}", mock, peer, target
        ):
            rows.append(row)
        if row := ratio_row("  ratio", f"mock ({short}) ÷ ceiling", mock, ceiling):
            rows.append(row)
    return rows


def stop_part(ctx: Context) -> list[Row]:
    """Stop of an idle chat: the mock (default flags, --quiet), its peers, the ceiling; ratios."""
    seed = seeds.stop_seed()
    seed_file = seeds.write(seed.seed, ctx.work / "stop.json")
    path = f"/api/chat/{seed.chat}/stop"
    measure = f"stop, idle chat ({ctx.load.describe()})"
    variants: list[list[str]] = [[]] + ([["--quiet"]] if ctx.tools.mock_quiet else [])
    mocks: list[Row] = []
    for flags in variants:
        port = free_port()
        name = " ".join(["recoup-mock serve", *flags])
        mocks.append(_measured(ctx, measure, name, ctx.mock(port, seed_file, flags), port, path))
    measured_peers: list[Row] = []
    for peer in peers(ctx):
        port = free_port()
        measured_peers.append(_measured(ctx, measure, peer.name, peer.command(port), port, path, check=True))
    port = free_port()
    command = [str(ctx.tools.python), "-m", "bench.ceiling", "--host", HOST, "--port", str(port)]
    name = "bare ASGI app, mock's server (ceiling)"
    ceiling = _measured(ctx, measure, name, [*command, *ctx.quiet_flags], port, path)
    return [*mocks, *measured_peers, ceiling, *ratio_rows(mocks, fastest(measured_peers), ceiling)]
