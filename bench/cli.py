"""`python -m bench`: flags, the parts in order, one table at the end (and JSON on request)."""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import agents, parts, peers, proxying, report, stop, tools, workers, wrk
from bench.report import Row
from loopback import ServerFailed

PARTS: dict[str, tuple[Callable[[parts.Context], list[Row]], str]] = {
    "stop": (
        stop.stop_part,
        "stop throughput and p50/p99: recoup-mock serve (default flags) and --quiet, Prism, WireMock, "
        "Mockoon, the ceiling (wrk), and the mock ÷ the fastest peer",
    ),
    "mix": (parts.mix_part, "stops of running, idle, foreign and unknown chats (wrk + lua/mix.lua)"),
    "streams": (parts.streams_part, "stop-to-stream-end p50/p99 with --streams open streams"),
    "agents": (
        agents.agents_part,
        "stop-to-stream-end p50/p99 of --streams default agent answers sent over the API, default flags",
    ),
    "pacing": (parts.pacing_part, "time to first content, delta rates and tool wait of the default answer"),
    "scale": (parts.scale_part, "start-up, RSS and list latency with --sessions x --chats-per-session chats"),
    "proxy": (
        proxying.proxy_part,
        "a stop and an answer's first chunk, direct and through recoup-mock proxy",
    ),
    "contract": (parts.contract_part, "wall time of recoup-contract's default profile, in-process"),
    "workers": (
        workers.workers_part,
        "stop throughput and stop-to-stream-end: in-memory store, 1 process, beside a Redis store with "
        "--workers-counts workers (its own redis-server)",
    ),
}
NEEDS_WRK = {"stop", "mix", "proxy"}


def _parts(text: str) -> list[str]:
    chosen = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in PARTS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose among {', '.join(PARTS)} (got {text!r})")
    return chosen


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _counts(text: str) -> tuple[int, ...]:
    chosen = [c.strip() for c in text.split(",") if c.strip()]
    if not chosen:
        raise argparse.ArgumentTypeError(f"give positive whole numbers, comma-separated (got {text!r})")
    return tuple(dict.fromkeys(_positive(c) for c in chosen))


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except those that are None or False (their help says what happens)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure the mock beside its peers (Prism, WireMock, Mockoon) and the machine's "
        "ceiling (a bare ASGI app under the mock's own server) in one run, one server at a time on "
        "loopback, and print one table with ratios. Parts: "
        + "; ".join(f"{name}: {text}" for name, (_, text) in PARTS.items())
        + ".",
        formatter_class=_Formatter,
    )
    parser.add_argument("--duration", type=_positive, default=10, metavar="SECONDS", help="wrk's -d per run")
    parser.add_argument("--connections", type=_positive, default=32, metavar="N", help="wrk's -c")
    parser.add_argument("--threads", type=_positive, default=2, metavar="N", help="wrk's -t")
    parser.add_argument(
        "--warmup",
        type=int,
        default=10,
        metavar="SECONDS",
        help="unmeasured wrk run before each measured one, the same for every server, the mock's included "
        "(Node's and the JVM's JIT take about 10 s to reach their steady speed; 0: none)",
    )
    parser.add_argument(
        "--parts", type=_parts, default=",".join(PARTS), metavar="LIST", help="comma-separated parts to run"
    )
    parser.add_argument("--streams", type=_positive, default=200, metavar="N", help="open streams to stop")
    parser.add_argument("--sessions", type=_positive, default=1000, metavar="N", help="sessions for 'scale'")
    parser.add_argument(
        "--chats-per-session", type=_positive, default=100, metavar="N", help="chats per session for 'scale'"
    )
    parser.add_argument(
        "--workers-counts",
        type=_counts,
        default="1,2,4",
        metavar="LIST",
        help="comma-separated --workers counts the 'workers' part serves on Redis",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON to FILE ('-': stdout)")
    parser.add_argument(
        "--mock", type=Path, metavar="PATH", help="recoup-mock to measure (default: .venv/bin/recoup-mock)"
    )
    parser.add_argument("--prism", metavar="PATH", help="Prism's CLI (default: found or installed from npm)")
    parser.add_argument(
        "--wiremock",
        metavar="PATH",
        help="WireMock's standalone jar (default: found or installed from npm's wiremock; needs java)",
    )
    parser.add_argument(
        "--mockoon", metavar="PATH", help="Mockoon's mockoon-cli (default: found or installed from npm)"
    )
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="never install wrk, Prism, WireMock, Java or Mockoon; skip what is missing",
    )
    return parser


def warmup_line(warmup: int, chosen: Sequence[str]) -> str:
    """What the report says of warm-ups: the same for every server, and which measures have none."""
    if warmup > 0:
        text = (
            f"Before each measured wrk run, every server (the mock included) gets the same unmeasured "
            f"{warmup} s of the same load"
        )
    else:
        text = "No server gets a warm-up (--warmup 0)"
    if "proxy" in chosen:
        text += " (the proxy part's one-connection runs follow its loaded runs instead)"
    unwarmed = [p for p in ("streams", "agents", "pacing") if p in chosen]
    if unwarmed:
        names = " and ".join([", ".join(unwarmed[:-1]), unwarmed[-1]] if len(unwarmed) > 1 else unwarmed)
        text += f"; the {names} {'measures run' if len(unwarmed) > 1 else 'measure runs'} without one"
    return f"{text}; each server runs alone, on loopback; ratios are the mock's figure ÷ the other's."


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    chosen: list[str] = args.parts
    info = report.machine()
    started = time.perf_counter()
    found = tools.detect(
        args.mock,
        args.prism,
        not args.no_install,
        bool(NEEDS_WRK & set(chosen) or {"scale", "workers"} & set(chosen)),
        "stop" in chosen,
    )
    if "stop" in chosen:
        peers.detect(found, args.wiremock, args.mockoon, not args.no_install)
    load = wrk.Load(threads=args.threads, connections=args.connections, duration=args.duration)
    rows: list[Row] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-") as work:
        ctx = parts.Context(
            found,
            load,
            args.warmup,
            Path(work),
            streams=args.streams,
            sessions=args.sessions,
            chats_per_session=args.chats_per_session,
            workers_counts=args.workers_counts,
        )
        for name in chosen:
            if name in NEEDS_WRK and not found.wrk:
                rows.append(Row(name, "", other="not run: wrk is missing (see above)"))
                continue
            try:
                rows.extend(PARTS[name][0](ctx))
            except (ServerFailed, wrk.WrkFailed, TimeoutError, OSError) as exc:
                tools.say(f"{name}: FAILED: {exc}")
                rows.append(Row(name, "", other=f"FAILED: {str(exc).splitlines()[0] if str(exc) else exc!r}"))
                failed = True
    failed = failed or any(r.values.get("failed") for r in rows)
    print()
    print(report.table(rows))
    print()
    print(report.machine_line(info))
    print(warmup_line(args.warmup, chosen))
    print("Versions: " + ", ".join(f"{k} {v}" for k, v in found.versions.items()))
    print("Tools: " + "; ".join(found.notes))
    print(f"One run took {time.perf_counter() - started:.0f} s.")
    if args.json:
        report.write_json(args.json, info, found.versions, found.notes, rows)
    return 1 if failed else 0
