"""`recoup-mock`: serve the mock with uvicorn.

Every flag has an environment variable (`RECOUP_MOCK_<FLAG>`) and a default.
"""

from __future__ import annotations

import argparse
import logging
import math
import re
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from mock_server import __version__
from mock_server.config import Config, env_default
from mock_server.domain.demo import DEMO_SEED
from mock_server.domain.seed import Seed, SeedError, read_seed_file
from mock_server.http.app import create_app

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number, not negative")
    return value


def _non_negative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (0 or more)")
    return int(text)


def _origin(text: str) -> str:
    origin = text.strip().rstrip("/")
    if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
        raise argparse.ArgumentTypeError(f"{text!r} is not an origin such as http://localhost:3000 (or *)")
    return origin


def _env_origins() -> list[str] | None:
    value = env_default("cors_origin", None)
    if value is None:
        return None
    return [_origin(part) for part in value.split(",") if part.strip()]


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    defaults = Config()
    parser = argparse.ArgumentParser(
        prog="recoup-mock",
        description="A stateful mock of the Recoup chat API (POST /api/chat/{chatId}/stop and "
        "the chat lifecycle around it).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve the mock over HTTP",
        description="Serve the mock over HTTP. Each option can also be set with the environment "
        "variable named after it (RECOUP_MOCK_HOST, RECOUP_MOCK_PORT, ...).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    serve.add_argument("--host", default=env_default("host", defaults.host), help="interface to listen on")
    serve.add_argument(
        "--port",
        type=_port,
        default=env_default("port", str(defaults.port)),
        help="port to listen on (0 picks a free one)",
    )
    serve.add_argument(
        "--seed",
        type=Path,
        default=env_default("seed", None),
        metavar="FILE",
        help="YAML or JSON file of accounts, keys, sessions and chats to start with "
        "(default: the built-in demo data)",
    )
    serve.add_argument(
        "--first-token-delay",
        type=_non_negative_float,
        default=env_default("first_token_delay", str(defaults.first_token_delay)),
        metavar="SECONDS",
        help="seconds before the first content of an answer, and of each step after a tool call "
        f"(default {defaults.first_token_delay:g}, as a hosted model's time to first token)",
    )
    serve.add_argument(
        "--tokens-per-second",
        type=_non_negative_float,
        default=env_default("tokens_per_second", str(defaults.tokens_per_second)),
        metavar="RATE",
        help=f"reasoning, text and tool-input deltas per second (default {defaults.tokens_per_second:g}; "
        "0 sends them without pause)",
    )
    serve.add_argument(
        "--tool-seconds",
        type=_non_negative_float,
        default=env_default("tool_seconds", str(defaults.tool_seconds)),
        metavar="SECONDS",
        help=f"how long a tool call runs when its script does not say (default {defaults.tool_seconds:g})",
    )
    serve.add_argument(
        "--stop-timeout",
        type=_non_negative_float,
        default=env_default("stop_timeout", str(defaults.stop_timeout)),
        metavar="SECONDS",
        help="seconds a stop waits for a generation to end before answering 504",
    )
    serve.add_argument(
        "--latency",
        type=_non_negative_float,
        default=env_default("latency", str(defaults.latency)),
        metavar="SECONDS",
        help="seconds added before every API answer (a request can add more with 'Prefer: delay=MS')",
    )
    serve.add_argument(
        "--cors-origin",
        type=_origin,
        action="append",
        dest="cors_origins",
        default=argparse.SUPPRESS,
        metavar="ORIGIN",
        help="an origin whose browser pages may call the mock, e.g. http://localhost:3000; repeat for "
        "several (RECOUP_MOCK_CORS_ORIGIN takes a comma-separated list) "
        "(default: any origin, for development)",
    )
    serve.add_argument(
        "--journal-size",
        type=_non_negative_int,
        default=env_default("journal_size", str(defaults.journal_size)),
        metavar="N",
        help="how many requests the journal (GET /__mock/journal) keeps; 0 records none",
    )
    serve.add_argument(
        "--quiet",
        action="store_true",
        default=env_default("quiet", "") not in ("", "0", "false"),
        help="for load tests: warnings only, no access log and no request journal "
        "(same as --log-level warning --journal-size 0; RECOUP_MOCK_QUIET=1)",
    )
    serve.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default=env_default("log_level", defaults.log_level),
        help="log verbosity (access logs at info and below)",
    )
    return parser


def banner(config: Config, seed: Seed, base_url: str) -> str:
    lines = [
        f"Recoup mock on {base_url}  (spec: {base_url}/openapi.json)",
        f"  Swagger UI {base_url}/ui/   demo chat {base_url}/demo/",
        f"  admin API {base_url}/__mock/ (document: {base_url}/__mock/openapi.json)",
        f"  CORS: {'any origin' if '*' in config.cors_origins else ', '.join(config.cors_origins)}",
    ]
    for account in seed["accounts"]:
        lines.append(f"  account {account['id']}: key {', '.join(account['api_keys'])}")
        for session in account.get("sessions", []):
            if "id" in session:
                lines.append(f"    session {session['id']}")
            for chat in session.get("chats", []):
                generating = chat.get("generating")
                fault = generating.get("fault") if isinstance(generating, dict) else None
                state = f"generating, {fault}" if fault else "generating" if generating else "idle"
                if "id" in chat:
                    lines.append(f"      chat {chat['id']} ({state})")
    example = _example_stop(seed)
    if example:
        key, chat_id = example
        lines.append("Try:")
        lines.append(f"  curl -s -X POST {base_url}/api/chat/{chat_id}/stop -H 'x-api-key: {key}'")
    return "\n".join(lines)


def _example_stop(seed: Seed) -> tuple[str, str] | None:
    """A key and a chat of its account, preferring a generating chat."""
    candidates = [
        (bool(chat.get("generating")), account["api_keys"][0], chat["id"])
        for account in seed["accounts"]
        for session in account.get("sessions", [])
        for chat in session.get("chats", [])
        if "id" in chat
    ]
    if not candidates:
        return None
    _, key, chat_id = max(candidates, key=lambda c: c[0])
    return key, chat_id


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def serve(args: argparse.Namespace) -> int:
    try:
        seed = read_seed_file(args.seed) if args.seed else DEMO_SEED
    except SeedError as exc:
        print(f"recoup-mock: {exc}", file=sys.stderr)
        return 2
    try:
        origins = getattr(args, "cors_origins", None) or _env_origins() or list(Config.cors_origins)
    except argparse.ArgumentTypeError as exc:
        print(f"recoup-mock: RECOUP_MOCK_CORS_ORIGIN: {exc}", file=sys.stderr)
        return 2
    config = Config(
        host=args.host,
        port=args.port,
        first_token_delay=args.first_token_delay,
        tokens_per_second=args.tokens_per_second,
        tool_seconds=args.tool_seconds,
        stop_timeout=args.stop_timeout,
        log_level="warning" if args.quiet else args.log_level,
        cors_origins=tuple(origins),
        latency=args.latency,
        journal_size=0 if args.quiet else args.journal_size,
    )
    logging.basicConfig(level=config.log_level.upper(), format="%(levelname)s: %(message)s")
    app = create_app(config, seed)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            log_level=config.log_level,
            access_log=config.log_level in ("info", "debug"),
            timeout_graceful_shutdown=2,
        )
    )

    try:
        sock = socket.create_server((config.host, config.port))
    except OSError as exc:
        print(f"recoup-mock: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 2
    port = sock.getsockname()[1]
    print(banner(config, seed, f"http://{_url_host(config.host)}:{port}"), flush=True)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn shuts down gracefully, then re-raises the signal it caught (Ctrl-C).
        return 130
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return 2  # pragma: no cover - argparse requires a command


if __name__ == "__main__":
    sys.exit(main())
