"""`recoup-mock proxy`: the contract's judge in front of a real upstream, its flags and its server."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mock_server import flags
from mock_server.config import env_default

DEFAULT_PORT = 4011
NEEDS = ("httpx", "openapi_core")
"""What the judge needs beyond the mock: `pip install "recoup-mock[contract]"` brings them."""


def upstream_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(f"{text!r} is not an upstream URL (http[s]://HOST[:PORT][/PATH])")
    return text.rstrip("/")


def _writable(path: Path) -> bool:
    """Whether `path` can be written: a file there that may be, or a directory that may hold it."""
    if path.exists():
        return path.is_file() and os.access(path, os.W_OK)
    parent = path.parent if str(path.parent) else Path(".")
    return parent.is_dir() and os.access(parent, os.W_OK)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    proxy = commands.add_parser(
        "proxy",
        help="forward to a real upstream, judging every exchange against the contract",
        description="Forward every request to UPSTREAM and judge both directions against the served "
        "contract as they pass (event streams event by event, unbuffered). Violations go to the log, "
        "the sl-violations header, GET /__mock/violations and /__mock/journal, and --report. Each "
        "option can also be set with RECOUP_MOCK_<OPTION>.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    proxy.add_argument(
        "--upstream",
        type=upstream_url,
        default=env_default("upstream", None),
        required=env_default("upstream", None) is None,
        metavar="URL",
        help="the implementation to forward to, e.g. https://staging.example.com (RECOUP_MOCK_UPSTREAM)",
    )
    proxy.add_argument("--host", default=env_default("host", "127.0.0.1"), help="interface to listen on")
    proxy.add_argument("--port", type=flags.port, default=env_default("port", str(DEFAULT_PORT)), help="port")
    proxy.add_argument(
        "--spec",
        type=Path,
        default=env_default("spec", None),
        metavar="FILE",
        help="the OpenAPI document to judge against (default: the contract recoup-mock serves)",
    )
    _add_judging(proxy)
    _add_bounds(proxy)


def _add_judging(proxy: argparse.ArgumentParser) -> None:
    """How the proxy judges, and what it writes of what it saw."""
    proxy.add_argument(
        "--errors",
        action="store_true",
        default=env_default("errors", "") not in ("", "0", "false"),
        help="refuse a request that breaks the contract (422, 401 for credentials) and replace an "
        "invalid answer that is not a stream with a 500, as prism proxy --errors does",
    )
    proxy.add_argument(
        "--report",
        type=Path,
        default=env_default("report", None),
        metavar="FILE",
        help="at shutdown, write what was found: JSON with a violations list, or JUnit XML for a FILE "
        "ending in .xml",
    )
    proxy.add_argument(
        "--record",
        type=Path,
        default=env_default("record", None),
        metavar="FILE",
        help="at shutdown, write what passed through as a seed file for recoup-mock serve --seed FILE: "
        "accounts (new keys, never the real ones), sessions, chats, and each streamed answer recorded "
        "with its pace (JSON, or YAML for .yaml/.yml)",
    )


def _add_bounds(proxy: argparse.ArgumentParser) -> None:
    """Every bound of the proxy (time, size, count) and its log."""
    proxy.add_argument(
        "--upstream-timeout",
        type=flags.positive_float,
        default=env_default("upstream_timeout", "300"),
        metavar="SECONDS",
        help="longest wait to connect to the upstream, for its answer, and between two pieces of a stream",
    )
    proxy.add_argument(
        "--max-body-bytes",
        type=flags.non_negative_int,
        default=env_default("max_body_bytes", str(4 * 1024 * 1024)),
        metavar="BYTES",
        help="largest request body forwarded (413 beyond); 0: no bound",
    )
    proxy.add_argument(
        "--journal-size",
        type=flags.non_negative_int,
        default=env_default("journal_size", "1000"),
        metavar="N",
        help="exchanges GET /__mock/journal keeps, the latest",
    )
    proxy.add_argument(
        "--max-violations",
        type=flags.positive_int,
        default=env_default("max_violations", "10000"),
        metavar="N",
        help="violations listed in the summary and the report, and in each journal entry; beyond, counted",
    )
    proxy.add_argument(
        "--shutdown-timeout",
        type=flags.non_negative_float,
        default=env_default("shutdown_timeout", "2"),
        metavar="SECONDS",
        help="seconds open streams get to end after SIGTERM or Ctrl-C",
    )
    proxy.add_argument(
        "--log-level",
        choices=("critical", "error", "warning", "info", "debug"),
        default=env_default("log_level", "info"),
        help="log verbosity (each violation is a warning line)",
    )


class Refused(Exception):
    """What the command line or the machine refuses before proxying: printed, exit status 2."""


def run(args: argparse.Namespace) -> int:
    try:
        _check_needs()
        app = _app_of(args)
        logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s: %(message)s")
        logging.getLogger("httpx").setLevel(
            logging.WARNING
        )  # a line per forwarded request is the access log's
        sock = _listen(args.host, args.port)
    except Refused as exc:
        print(f"recoup-mock: {exc}", file=sys.stderr)
        return 2
    base = f"http://{args.host}:{sock.getsockname()[1]}"
    print(
        f"Recoup contract proxy on {base} -> {args.upstream}\n"
        f"  violations {base}/__mock/violations   journal {base}/__mock/journal"
        + (f"\n  report: {args.report}" if args.report else "")
        + (f"\n  recording into {args.record} (written at shutdown)" if args.record else ""),
        flush=True,
    )
    from mock_server.http.server import GracefulServer

    try:
        # uvicorn's server whose SIGTERM is a normal exit (status 0); there are no answers of its own to end.
        server = GracefulServer(
            _server_config(app, args), end_answers=None, shutdown_timeout=args.shutdown_timeout
        )
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        return 130
    return 0


def _check_needs() -> None:
    missing = [name for name in NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        raise Refused(f"the proxy needs {', '.join(missing)}: pip install 'recoup-mock[contract]'")


def _app_of(args: argparse.Namespace) -> Any:
    """The proxy's ASGI app, judging against `--spec` (the served contract by default)."""
    from mock_server.http.spec import load_document
    from mock_server.proxy.app import ProxyApp, ProxySettings

    settings = ProxySettings(
        upstream=args.upstream,
        errors=args.errors,
        max_body_bytes=args.max_body_bytes,
        upstream_timeout=args.upstream_timeout,
        journal_size=args.journal_size,
        max_violations=args.max_violations,
        report=args.report,
        record=args.record,
    )
    for flag, path in (("--report", args.report), ("--record", args.record)):
        if path is not None and not _writable(path):
            raise Refused(f"{flag} {path}: cannot be written (it is written at shutdown)")
    try:
        return ProxyApp(settings, load_document(args.spec) if args.spec else load_document())
    except Exception as exc:  # unreadable, not YAML, or not an OpenAPI document: said, not a traceback
        raise Refused(f"cannot judge against --spec {args.spec}: {exc}") from None


def _listen(host: str, port: int) -> socket.socket:
    try:
        return socket.create_server((host, port))
    except OSError as exc:
        raise Refused(f"cannot listen on {host}:{port}: {exc}") from None


def _server_config(app: Any, args: argparse.Namespace) -> Any:
    import uvicorn

    from mock_server.http.access_log import access_logged
    from mock_server.http.admin.guard import AdminGuard
    from mock_server.http.protocol import Limits, protocol_for

    return uvicorn.Config(
        # The admin paths (its own, and an upstream mock's) as the mock guards them: no other
        # site and no rebound name may read them, since a mock's admin API shows every key.
        access_logged(AdminGuard(app, "/__mock", listen_host=args.host), args.log_level),
        # The mock's hardened protocol: header and body time-outs, a bounded head, and the
        # contract's error body for a request no server can read.
        http=protocol_for(Limits()),
        log_level=args.log_level,
        access_log=False,  # the mock's own, batched (`access_log.py`)
        timeout_graceful_shutdown=args.shutdown_timeout,
        ws="none",
        server_header=False,  # the upstream's `Server` and `Date` pass through, not uvicorn's
        date_header=False,
    )
