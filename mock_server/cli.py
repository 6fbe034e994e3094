"""`recoup-mock`: serve the mock with uvicorn.

Every flag has an environment variable (`RECOUP_MOCK_<FLAG>`) and a default.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from mock_server import __version__, flags
from mock_server.config import Config, env_default
from mock_server.domain.demo import DEMO_SEED
from mock_server.domain.seed import Seed, SeedError, read_seed_file, too_large
from mock_server.http.admin.guard import is_loopback
from mock_server.http.app import create_app
from mock_server.http.runtime import store_problem
from mock_server.http.server import exit_at_once
from mock_server.http.workers import (
    Supervisor,
    configure_logging,
    graceful_server,
    memory_refusal,
    workers_line,
)
from mock_server.proxy import cli as proxy_cli

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def build_parser() -> argparse.ArgumentParser:
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
    serve.add_argument("--host", default=env_default("host", Config.host), help="interface to listen on")
    serve.add_argument(
        "--seed",
        type=Path,
        default=env_default("seed", None),
        metavar="FILE",
        help="YAML or JSON file of accounts, keys, sessions and chats to start with; "
        "none: the built-in demo data",
    )
    flags.add_settings(serve)
    _add_browser_and_admin_arguments(serve)
    _add_output_arguments(serve)
    proxy_cli.add_parser(commands)
    return parser


def _add_browser_and_admin_arguments(serve: argparse.ArgumentParser) -> None:
    """Who may call the mock from a browser, and who may reach its admin API."""
    serve.add_argument(
        "--cors-origin",
        type=flags.origin,
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
        type=flags.origin,
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
        type=flags.host_name,
        action="append",
        dest="admin_hosts",
        default=argparse.SUPPRESS,
        metavar="NAME",
        help="a Host name the admin API answers besides loopback ones and --host (against DNS "
        "rebinding); repeatable, RECOUP_MOCK_ADMIN_HOST takes a comma-separated list (default: none)",
    )
    serve.add_argument(
        "--admin-token",
        type=flags.admin_token,
        default=argparse.SUPPRESS,  # never shown by --help, even when set in the environment
        metavar="TOKEN",
        help="require 'Authorization: Bearer TOKEN' or 'x-mock-admin-token: TOKEN' on every admin "
        "request but GET /__mock/openapi.json; needed when --host is not loopback "
        "(RECOUP_MOCK_ADMIN_TOKEN) (default: none)",
    )
    serve.add_argument(
        "--no-admin",
        action="store_true",
        default=_env_flag("no_admin"),
        help="serve without the admin API: every /__mock path is 404 (RECOUP_MOCK_NO_ADMIN=1)",
    )


def _add_output_arguments(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--quiet",
        action="store_true",
        default=_env_flag("quiet"),
        help="for load tests: warnings only, no access log and no request journal "
        "(same as --log-level warning --journal-size 0; RECOUP_MOCK_QUIET=1)",
    )
    serve.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default=env_default("log_level", Config.log_level),
        help="log verbosity (access logs at info and below)",
    )


def _env_flag(name: str) -> bool:
    return env_default(name, "") not in ("", "0", "false")


def banner(config: Config, seed: Seed, base_url: str) -> str:
    lines = [
        f"Recoup mock on {base_url}  (spec: {base_url}/openapi.json)",
        f"  Swagger UI {base_url}/ui/   demo chat {base_url}/demo/",
        _admin_line(config, base_url),
        f"  CORS: {'any origin' if '*' in config.cors_origins else ', '.join(config.cors_origins)}",
    ]
    if config.workers > 1:
        lines.insert(1, workers_line(config))
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


class Refused(Exception):
    """What the command line or the machine refuses before serving: printed, exit status 2."""


def serve(args: argparse.Namespace) -> int:
    try:
        seed = _seed_of(args)
        config = _config_of(args)
        _check_can_serve(config, seed)
        configure_logging(config)
        # One process serves here; several are spawned by the supervisor, each building its own app.
        server = graceful_server(config, create_app(config, seed)) if config.workers == 1 else None
        sock = _listen(config)
    except Refused as exc:
        print(f"recoup-mock: {exc}", file=sys.stderr)
        return 2
    port = sock.getsockname()[1]
    print(banner(config, seed, f"http://{_url_host(config.host)}:{port}"), flush=True)
    if server is None:
        exit_at_once(Supervisor(config, seed, sock).run())
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        # The server ends open streams and shuts down, then re-raises the Ctrl-C it caught
        # (a SIGTERM ends in a normal exit, status 0).
        exit_at_once(130)
    exit_at_once(0)


def _seed_of(args: argparse.Namespace) -> Seed:
    try:
        return read_seed_file(args.seed) if args.seed else DEMO_SEED
    except SeedError as exc:
        raise Refused(exc) from None


def _config_of(args: argparse.Namespace) -> Config:
    """The flags, and the environment variables of the repeatable ones, as the server's config."""
    try:
        origins = (
            getattr(args, "cors_origins", None)
            or flags.env_list("cors_origin", flags.origin)
            or list(Config.cors_origins)
        )
        admin_origins = getattr(args, "admin_cors_origins", None) or flags.env_list(
            "admin_cors_origin", flags.origin
        )
        admin_hosts = getattr(args, "admin_hosts", None) or flags.env_list("admin_host", flags.host_name)
        admin_token = getattr(args, "admin_token", None) or flags.env_token()
    except argparse.ArgumentTypeError as exc:
        raise Refused(exc) from None
    if not args.no_admin and admin_token is None and not is_loopback(args.host):
        raise Refused(
            f"--host {args.host} is not a loopback address: set --admin-token TOKEN "
            "(or RECOUP_MOCK_ADMIN_TOKEN) to guard the admin API, or serve without it with --no-admin"
        )
    settings = flags.settings_of(args)
    if args.quiet:
        settings["journal_size"] = 0
    return Config(
        **settings,
        host=args.host,
        log_level="warning" if args.quiet else args.log_level,
        cors_origins=tuple(origins),
        admin_enabled=not args.no_admin,
        admin_token=admin_token,
        admin_cors_origins=tuple(admin_origins),
        admin_hosts=tuple(admin_hosts),
    )


def _check_can_serve(config: Config, seed: Seed) -> None:
    """Refuse what would fail once serving: too little memory, a seed too large, no store."""
    refusal = (
        memory_refusal(config)
        or too_large(seed, config.max_store_bytes)
        or (asyncio.run(store_problem(config)) if config.store != "memory" else None)
    )
    if refusal:
        raise Refused(refusal)


def _listen(config: Config) -> socket.socket:
    try:
        return socket.create_server((config.host, config.port))
    except OSError as exc:
        raise Refused(f"cannot listen on {config.host}:{config.port}: {exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "proxy":
        return proxy_cli.run(args)
    return 2  # pragma: no cover - argparse requires a command


if __name__ == "__main__":
    sys.exit(main())
