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
from collections.abc import Callable, Sequence
from pathlib import Path

import uvicorn

from mock_server import __version__
from mock_server.config import Config, env_default
from mock_server.domain.demo import DEMO_SEED
from mock_server.domain.seed import Seed, SeedError, read_seed_file
from mock_server.http.admin.guard import is_loopback
from mock_server.http.app import create_app
from mock_server.http.server import GracefulServer, answers_of, uvicorn_options

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
    if not re.fullmatch(r"[0-9]{1,9}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (0 or more)")
    return int(text)


def _positive_int(text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,9}", text) or int(text) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number above 0")
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


def _admin_token(text: str) -> str:
    if not re.fullmatch(r"[\x21-\x7e]+", text):
        raise argparse.ArgumentTypeError("an admin token is printable ASCII without spaces")
    return text


def _host_name(text: str) -> str:
    name = text.strip().lower()
    if not re.fullmatch(r"[a-z0-9.\-]+|\[?[0-9a-f:.]+\]?", name):
        raise argparse.ArgumentTypeError(f"{text!r} is not a host name or address")
    return name


def _env_list(name: str, parse: Callable[[str], str]) -> list[str]:
    """`RECOUP_MOCK_<NAME>` as a comma-separated list, each item checked by `parse`."""
    try:
        return [parse(part) for part in (env_default(name, None) or "").split(",") if part.strip()]
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"RECOUP_MOCK_{name.upper()}: {exc}") from None


def _env_token() -> str | None:
    value = env_default("admin_token", None)
    if not value:
        return None
    try:
        return _admin_token(value)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"RECOUP_MOCK_ADMIN_TOKEN: {exc}") from None


def _port(text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,9}", text) or not 0 <= int(text) <= 65535:
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
        "(a hosted model's time to first token)",
    )
    serve.add_argument(
        "--tokens-per-second",
        type=_non_negative_float,
        default=env_default("tokens_per_second", str(defaults.tokens_per_second)),
        metavar="RATE",
        help="reasoning, text and tool-input deltas per second (a hosted model's rate; 0: no pause)",
    )
    serve.add_argument(
        "--tool-seconds",
        type=_non_negative_float,
        default=env_default("tool_seconds", str(defaults.tool_seconds)),
        metavar="SECONDS",
        help="how long a tool call runs when its script does not say",
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
        "(default: any origin, for development; never the admin API)",
    )
    serve.add_argument(
        "--admin-cors-origin",
        type=_origin,
        action="append",
        dest="admin_cors_origins",
        default=argparse.SUPPRESS,
        metavar="ORIGIN",
        help="an origin whose browser pages may call the admin API (/__mock: every key, the seed, the "
        "journal's bodies); repeatable, RECOUP_MOCK_ADMIN_CORS_ORIGIN takes a comma-separated list "
        "(default: none; the mock's own pages, same-origin, and non-browser clients only)",
    )
    serve.add_argument(
        "--admin-host",
        type=_host_name,
        action="append",
        dest="admin_hosts",
        default=argparse.SUPPRESS,
        metavar="NAME",
        help="a Host name the admin API answers besides loopback ones and --host (against DNS "
        "rebinding); repeatable, RECOUP_MOCK_ADMIN_HOST takes a comma-separated list (default: none)",
    )
    serve.add_argument(
        "--admin-token",
        type=_admin_token,
        default=argparse.SUPPRESS,  # never shown by --help, even when set in the environment
        metavar="TOKEN",
        help="require 'Authorization: Bearer TOKEN' or 'x-mock-admin-token: TOKEN' on every admin "
        "request but GET /__mock/openapi.json; needed when --host is not loopback "
        "(RECOUP_MOCK_ADMIN_TOKEN) (default: none)",
    )
    serve.add_argument(
        "--no-admin",
        action="store_true",
        default=env_default("no_admin", "") not in ("", "0", "false"),
        help="serve without the admin API: every /__mock path is 404 (RECOUP_MOCK_NO_ADMIN=1)",
    )
    serve.add_argument(
        "--journal-size",
        type=_non_negative_int,
        default=env_default("journal_size", str(defaults.journal_size)),
        metavar="N",
        help="how many requests the journal (GET /__mock/journal) keeps; 0 records none",
    )
    for flag, kind, help_text in (
        ("--max-body-bytes", _non_negative_int, "largest request body read; 413 beyond (0: no bound)"),
        ("--max-json-depth", _non_negative_int, "deepest nesting of a JSON body; 400 beyond"),
        (
            "--max-chats",
            _non_negative_int,
            "most chats held; a new one evicts the oldest idle chat, else 429",
        ),
        (
            "--max-generations",
            _non_negative_int,
            "most answers generating at once; 429 with Retry-After beyond",
        ),
        ("--max-messages-per-chat", _non_negative_int, "messages a chat keeps, the latest (0: all)"),
        (
            "--run-retention",
            _non_negative_float,
            "seconds a finished answer's chunks stay readable, then freed",
        ),
    ):
        name = flag.removeprefix("--").replace("-", "_")
        default = getattr(defaults, name)
        serve.add_argument(
            flag,
            type=kind,
            default=env_default(name, str(default)),
            metavar="N" if kind is _non_negative_int else "SECONDS",
            help=help_text,
        )
    serve.add_argument(
        "--header-timeout",
        type=_non_negative_float,
        default=env_default("header_timeout", str(defaults.header_timeout)),
        metavar="SECONDS",
        help="seconds from a connection's start (or its keep-alive wait's) until a request's headers "
        "are complete; 408, then closed, after (0: no limit)",
    )
    serve.add_argument(
        "--body-timeout",
        type=_non_negative_float,
        default=env_default("body_timeout", str(defaults.body_timeout)),
        metavar="SECONDS",
        help="longest pause between two pieces of a request's body; 408, then closed, after (0: no limit)",
    )
    serve.add_argument(
        "--keep-alive-timeout",
        type=_non_negative_float,
        default=env_default("keep_alive_timeout", str(defaults.keep_alive_timeout)),
        metavar="SECONDS",
        help="seconds an idle keep-alive connection stays open",
    )
    serve.add_argument(
        "--max-header-bytes",
        type=_positive_int,
        default=env_default("max_header_bytes", str(defaults.max_header_bytes)),
        metavar="N",
        help="largest request line and headers, in bytes; 431, then closed, beyond",
    )
    serve.add_argument(
        "--shutdown-timeout",
        type=_non_negative_float,
        default=env_default("shutdown_timeout", str(defaults.shutdown_timeout)),
        metavar="SECONDS",
        help="seconds from SIGTERM or Ctrl-C until the process has exited; open answer streams are "
        "ended first (a stopped answer's chunks, then [DONE]); a second Ctrl-C exits at once",
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
        _admin_line(config, base_url),
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


def _admin_line(config: Config, base_url: str) -> str:
    if not config.admin_enabled:
        return "  admin API: off (--no-admin)"
    access = "token required" if config.admin_token else "loopback, no token"
    origins = ", ".join(config.admin_cors_origins) or "same-origin pages only"
    return f"  admin API {base_url}/__mock/ (document: {base_url}/__mock/openapi.json; {access}; {origins})"


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
    try:
        admin_origins = getattr(args, "admin_cors_origins", None) or _env_list("admin_cors_origin", _origin)
        admin_hosts = getattr(args, "admin_hosts", None) or _env_list("admin_host", _host_name)
        admin_token = getattr(args, "admin_token", None) or _env_token()
    except argparse.ArgumentTypeError as exc:
        print(f"recoup-mock: {exc}", file=sys.stderr)
        return 2
    if not args.no_admin and admin_token is None and not is_loopback(args.host):
        print(
            f"recoup-mock: --host {args.host} is not a loopback address: set --admin-token TOKEN "
            "(or RECOUP_MOCK_ADMIN_TOKEN) to guard the admin API, or serve without it with --no-admin",
            file=sys.stderr,
        )
        return 2
    config = Config(
        host=args.host,
        port=args.port,
        max_body_bytes=args.max_body_bytes,
        max_json_depth=args.max_json_depth,
        max_chats=args.max_chats,
        max_generations=args.max_generations,
        max_messages_per_chat=args.max_messages_per_chat,
        run_retention=args.run_retention,
        first_token_delay=args.first_token_delay,
        tokens_per_second=args.tokens_per_second,
        tool_seconds=args.tool_seconds,
        stop_timeout=args.stop_timeout,
        log_level="warning" if args.quiet else args.log_level,
        cors_origins=tuple(origins),
        latency=args.latency,
        journal_size=0 if args.quiet else args.journal_size,
        admin_enabled=not args.no_admin,
        admin_token=admin_token,
        admin_cors_origins=tuple(admin_origins),
        admin_hosts=tuple(admin_hosts),
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        keep_alive_timeout=args.keep_alive_timeout,
        max_header_bytes=args.max_header_bytes,
        shutdown_timeout=args.shutdown_timeout,
    )
    logging.basicConfig(level=config.log_level.upper(), format="%(levelname)s: %(message)s")
    app = create_app(config, seed)
    server = GracefulServer(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            log_level=config.log_level,
            access_log=config.log_level in ("info", "debug"),
            **uvicorn_options(config),  # hardened protocol, keep-alive, shutdown timeout
        ),
        end_answers=answers_of(app),
        shutdown_timeout=config.shutdown_timeout,
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
        # The server ends open streams and shuts down, then re-raises the Ctrl-C it caught
        # (a SIGTERM ends in a normal exit, status 0).
        return 130
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return 2  # pragma: no cover - argparse requires a command


if __name__ == "__main__":
    sys.exit(main())
