"""The flags of `recoup-mock serve`: how each value is read and checked, and the table of the plain
settings (one flag, one `Config` field of the same name, one `RECOUP_MOCK_<FLAG>` variable).

A bad value is an `argparse.ArgumentTypeError` naming the value and what it should be.
"""

from __future__ import annotations

import argparse
import math
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mock_server.config import Config, env_default


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number, not negative")
    return value


def non_negative_int(text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,9}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (0 or more)")
    return int(text)


_BYTE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def byte_count(text: str) -> int:
    """A number of bytes, whole, or with a binary unit: `268435456`, `256M`, `256MiB`, `1G`."""
    found = re.fullmatch(r"([0-9]{1,15})\s*(?:([kKmMgG])(?:i?B)?)?", text.strip())
    if not found:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of bytes (such as 268435456, 256M or 1GiB)"
        )
    return int(found.group(1)) * _BYTE_UNITS[(found.group(2) or "").lower()]


def positive_int(text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,9}", text) or int(text) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number above 0")
    return int(text)


DISCONNECT_CHOICES = ("cancel", "continue")


def on_disconnect(text: str) -> str:
    if text not in DISCONNECT_CHOICES:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of: {', '.join(DISCONNECT_CHOICES)}")
    return text


def origin(text: str) -> str:
    origin = text.strip().rstrip("/")
    if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
        raise argparse.ArgumentTypeError(f"{text!r} is not an origin such as http://localhost:3000 (or *)")
    return origin


def admin_token(text: str) -> str:
    if not re.fullmatch(r"[\x21-\x7e]+", text):
        raise argparse.ArgumentTypeError("an admin token is printable ASCII without spaces")
    return text


def host_name(text: str) -> str:
    name = text.strip().lower()
    if not re.fullmatch(r"[a-z0-9.\-]+|\[?[0-9a-f:.]+\]?", name):
        raise argparse.ArgumentTypeError(f"{text!r} is not a host name or address")
    return name


def env_list(name: str, parse: Callable[[str], str]) -> list[str]:
    """`RECOUP_MOCK_<NAME>` as a comma-separated list, each item checked by `parse`."""
    try:
        return [parse(part) for part in (env_default(name, None) or "").split(",") if part.strip()]
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"RECOUP_MOCK_{name.upper()}: {exc}") from None


def env_token() -> str | None:
    value = env_default("admin_token", None)
    if not value:
        return None
    try:
        return admin_token(value)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"RECOUP_MOCK_ADMIN_TOKEN: {exc}") from None


def positive_float(text: str) -> float:
    value = non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
    return value


STORE_SCHEMES = ("redis", "rediss", "unix")


def store_url(text: str) -> str:
    """`memory`, or a Redis URL whose host, port and database number are well formed."""
    url = text.strip()
    if url == "memory":
        return url
    problem = _redis_url_problem(url)
    if problem:
        raise argparse.ArgumentTypeError(
            f"{masked(text)!r} is not a store ({problem}): give 'memory' or a Redis URL such as "
            "redis://127.0.0.1:6379/0"
        )
    return url


def _redis_url_problem(url: str) -> str | None:
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "it cannot be read as a URL"
    if parts.scheme not in STORE_SCHEMES:
        return "the scheme is not redis://, rediss:// or unix://"
    if parts.scheme == "unix":
        return None if parts.path else "no socket path"
    try:
        port = parts.port
    except ValueError:
        return "the port is not a number from 1 to 65535"
    if not parts.hostname:
        return "no host"
    if port == 0:
        return "the port is not a number from 1 to 65535"
    database = parts.path.lstrip("/")
    if database and not (database.isdigit() and int(database) < 16_384):
        return "the database is not a number"
    return None


def masked(url: str) -> str:
    """`url` with its password, if any (`//user:PASSWORD@` or `?password=`), replaced by `***`."""
    hidden = re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)
    return re.sub(r"(password=)[^&]*", r"\1***", hidden)


def key_prefix(text: str) -> str:
    # No ':' in a prefix: the store ends it with one, so no prefix's keys fall under another's.
    if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a key prefix (1 to 64 letters, digits, '_', '.' or '-')"
        )
    return text


def port(text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,9}", text) or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


@dataclass(frozen=True)
class Setting:
    flag: str
    parse: Callable[[str], Any]
    metavar: str
    help: str

    @property
    def field(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


SECONDS = "SECONDS"
SETTINGS = (
    Setting("--port", port, "PORT", "port to listen on (0 picks a free one)"),
    Setting(
        "--store",
        store_url,
        "URL",
        "where the state lives: 'memory' (this process only) or a Redis URL, e.g. "
        "redis://127.0.0.1:6379/0, that several processes and --workers share",
    ),
    Setting(
        "--store-prefix",
        key_prefix,
        "PREFIX",
        "prefix of every Redis key and channel, so that several mocks can share one Redis",
    ),
    Setting(
        "--store-connections",
        positive_int,
        "N",
        "most connections one process opens to a Redis store (each open answer stream holds one)",
    ),
    Setting(
        "--workers",
        positive_int,
        "N",
        "server processes on the one port; more than 1 needs --store redis://...",
    ),
    Setting(
        "--generation-lease",
        positive_float,
        SECONDS,
        "on a Redis store: within this time of a process's last heartbeat (it died), another "
        "process ends its generations and frees their chats; a stalled Redis hands none over",
    ),
    Setting(
        "--first-token-delay",
        non_negative_float,
        SECONDS,
        "seconds before the first content of an answer, and of each step after a tool call "
        "(a hosted model's time to first token)",
    ),
    Setting(
        "--tokens-per-second",
        non_negative_float,
        "RATE",
        "reasoning, text and tool-input deltas per second (a hosted model's rate; 0: no pause)",
    ),
    Setting(
        "--tool-seconds",
        non_negative_float,
        SECONDS,
        "how long a tool call runs when its script does not say",
    ),
    Setting(
        "--replay-speed",
        positive_float,
        "FACTOR",
        "how much faster than recorded a recorded answer (recoup-mock proxy --record) replays",
    ),
    Setting(
        "--on-disconnect",
        on_disconnect,
        "cancel|continue",
        "what a client leaving an answer's stream early does (closing the tab, a lost "
        "connection): 'cancel' stops the answer, as the service does; 'continue' keeps it "
        "generating, to try a reload that resumes it",
    ),
    Setting(
        "--stop-timeout",
        non_negative_float,
        SECONDS,
        "seconds a stop waits for a generation to end before answering 504",
    ),
    Setting(
        "--latency",
        non_negative_float,
        SECONDS,
        "seconds added before every API answer (a request can add more with 'Prefer: delay=MS')",
    ),
    Setting(
        "--journal-size",
        non_negative_int,
        "N",
        "how many requests the journal (GET /__mock/journal) keeps; 0 records none",
    ),
    Setting("--max-body-bytes", non_negative_int, "N", "largest request body read; 413 beyond (0: no bound)"),
    Setting("--max-json-depth", non_negative_int, "N", "deepest nesting of a JSON body; 400 beyond"),
    Setting(
        "--max-chats",
        non_negative_int,
        "N",
        "most chats held; a new one evicts the chat idle the longest, else 429",
    ),
    Setting(
        "--max-store-bytes",
        byte_count,
        "BYTES",
        "bytes the chats may hold (their records and messages as stored JSON); beyond, the chats "
        "idle the longest are evicted, else the write is 507 (0: no bound)",
    ),
    Setting(
        "--max-generations",
        non_negative_int,
        "N",
        "most answers generating at once in each process (each worker); 429 with Retry-After beyond",
    ),
    Setting("--max-messages-per-chat", non_negative_int, "N", "messages a chat keeps, the latest (0: all)"),
    Setting(
        "--run-retention",
        non_negative_float,
        SECONDS,
        "seconds a finished answer's chunks stay readable, then freed",
    ),
    Setting(
        "--header-timeout",
        non_negative_float,
        SECONDS,
        "seconds from a connection's start (or its keep-alive wait's) until a request's headers "
        "are complete; 408, then closed, after (0: no limit)",
    ),
    Setting(
        "--body-timeout",
        non_negative_float,
        SECONDS,
        "longest pause between two pieces of a request's body; 408, then closed, after (0: no limit)",
    ),
    Setting(
        "--keep-alive-timeout",
        non_negative_float,
        SECONDS,
        "seconds an idle keep-alive connection stays open",
    ),
    Setting(
        "--max-header-bytes",
        positive_int,
        "N",
        "largest request line and headers, in bytes; 431, then closed, beyond",
    ),
    Setting(
        "--shutdown-timeout",
        non_negative_float,
        SECONDS,
        "seconds from SIGTERM or Ctrl-C until the process, workers included, has exited; open "
        "answer streams are ended first (a stopped answer's chunks, then [DONE]), and a worker "
        "still running just before the end is killed, its streams cut; a second Ctrl-C exits at once",
    ),
)


def add_settings(parser: argparse.ArgumentParser) -> None:
    """One flag per plain setting, its default from `RECOUP_MOCK_<FLAG>`, else from `Config`."""
    defaults = Config()
    for setting in SETTINGS:
        parser.add_argument(
            setting.flag,
            type=setting.parse,
            default=env_default(setting.field, str(getattr(defaults, setting.field))),
            metavar=setting.metavar,
            help=setting.help,
        )


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """The plain settings' values, as `Config` arguments."""
    return {setting.field: getattr(args, setting.field) for setting in SETTINGS}
