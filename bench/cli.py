"""`python -m bench`: flags, the parts in order, one table at the end (and JSON on request)."""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import parts, proxying, report, tools, workers, wrk
from bench.procs import ServerFailed
from bench.report import Row

PARTS: dict[str, tuple[Callable[[parts.Context], list[Row]], str]] = {
    "stop": (parts.stop_part, "stop throughput and p50/p99: mock, Prism quiet, ceiling (wrk)"),
    "mix": (parts.mix_part, "stops of running, idle, foreign and unknown chats (wrk + lua/mix.lua)"),
    "streams": (parts.streams_part, "stop-to-stream-end p50/p99 with --streams open streams"),
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
        description="Measure the mock beside Prism and the machine's ceiling (a bare ASGI app under the "
        "mock's own server) in one run, one server at a time on loopback, and print one table with "
        "ratios. Parts: " + "; ".join(f"{name}: {text}" for name, (_, text) in PARTS.items()) + ".",
        formatter_class=_Formatter,
    )
    parser.add_argument("--duration", type=_positive, default=10, metavar="SECONDS", help="wrk's -d per run")
    parser.add_argument("--connections", type=_positive, default=32, metavar="N", help="wrk's -c")
    parser.add_argument("--threads", type=_positive, default=2, metavar="N", help="wrk's -t")
    parser.add_argument(
        "--warmup", type=int, default=2, metavar="SECONDS", help="unmeasured wrk run before each (0: none)"
    )
    parser.add_argument(
        "--prism-warmup",
        type=int,
        default=10,
        metavar="SECONDS",
        help="Prism's warm-up instead (Node's JIT takes about 10 s to reach its steady speed)",
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
        "--no-install", action="store_true", help="never install wrk or Prism; skip what is missing"
    )
    return parser


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
    load = wrk.Load(threads=args.threads, connections=args.connections, duration=args.duration)
    rows: list[Row] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-") as work:
        ctx = parts.Context(
            found,
            load,
            args.warmup,
            Path(work),
            prism_warmup=args.prism_warmup,
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
    prism_warmup = max(args.warmup, args.prism_warmup)
    print(
        f"Each wrk run follows an unmeasured {args.warmup} s warm-up ({prism_warmup} s for Prism);"
        " each server runs alone, on loopback; ratios are the mock's figure ÷ the other's."
    )
    print("Versions: " + ", ".join(f"{k} {v}" for k, v in found.versions.items()))
    print("Tools: " + "; ".join(found.notes))
    print(f"One run took {time.perf_counter() - started:.0f} s.")
    if args.json:
        report.write_json(args.json, info, found.versions, found.notes, rows)
    return 1 if failed else 0
