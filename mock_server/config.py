"""Settings of a mock server, with their defaults and environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

ENV_PREFIX = "RECOUP_MOCK_"


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 4010
    first_token_delay: float = 0.35
    """Seconds before the first content of an answer, and of each step after a tool call."""
    tokens_per_second: float = 40.0
    """Text, reasoning and tool-input deltas per second; 0 sends them without pause."""
    tool_seconds: float = 1.5
    """How long a tool call runs when its script does not say."""
    replay_speed: float = 1.0
    """How much faster than recorded a recorded answer replays (2: in half the time)."""
    on_disconnect: str = "cancel"
    """What a client that leaves an answer's stream before its end does: `cancel` the answer (the
    service's behaviour) or let it `continue` (to try reloading and resuming it)."""
    stop_timeout: float = 8.0
    """Seconds a stop waits for a cancelled generation to end before answering 504."""
    log_level: str = "info"
    cors_origins: tuple[str, ...] = ("*",)
    """Origins whose browser pages may call the mock; `*` allows any (the development default)."""
    latency: float = 0.0
    """Seconds added before every API answer (not the admin API, Swagger UI or the demo page)."""
    journal_size: int = 1000
    """How many requests the journal keeps; the oldest are dropped first."""
    admin_enabled: bool = True
    """Serve the admin API under `/__mock`; off (`--no-admin`), every `/__mock` path is 404."""
    admin_token: str | None = field(default=None, repr=False)
    """When set, every admin request but its document must send it (`Authorization: Bearer` or
    `x-mock-admin-token`); required to serve on a host that is not loopback."""
    admin_cors_origins: tuple[str, ...] = ()
    """Origins whose browser pages may call the admin API (none by default: only the mock's own
    pages, same-origin, and clients that are not browsers); `cors_origins` does not apply to it."""
    admin_hosts: tuple[str, ...] = ()
    """`Host` names the admin API answers besides loopback ones and `host` (DNS rebinding guard)."""
    max_body_bytes: int = 4 * 1024 * 1024
    """Largest request body read (413 beyond); 0: no bound."""
    max_json_depth: int = 64
    """Deepest nesting of a JSON body (400 beyond); 0: only what Python can parse."""
    max_chats: int = 100_000
    """Most chats held; a new chat evicts the one idle the longest, or is refused (429); 0: no bound."""
    max_store_bytes: int = 256 * 1024 * 1024
    """Bytes the chats may hold: their records and messages, as the JSON a store writes; beyond,
    the chats idle the longest are evicted, or the write is refused (507); 0: no bound."""
    max_generations: int = 1000
    """Most answers generating at once in each process (429 with Retry-After beyond); 0: no bound."""
    max_messages_per_chat: int = 1000
    """Messages a chat keeps, the latest; older ones are dropped (0: all)."""
    run_retention: float = 60.0
    """Seconds a finished answer's chunks stay readable before they are freed."""
    header_timeout: float = 10.0
    """Seconds from a connection's start (or its keep-alive wait's) until a request's headers are
    complete (408 after, then closed); 0: no limit."""
    body_timeout: float = 10.0
    """Longest pause in seconds between two pieces of a request's body (408, then closed); 0: none."""
    keep_alive_timeout: float = 5.0
    """Seconds an idle keep-alive connection stays open (uvicorn's `timeout_keep_alive`)."""
    max_header_bytes: int = 16 * 1024
    """Largest request line and headers in bytes (431 beyond, then closed); h11's default."""
    shutdown_timeout: float = 2.0
    """Seconds from SIGTERM/SIGINT until the process has exited, open answer streams ended first."""
    store: str = "memory"
    """Where the state lives: `memory` (this process only) or a Redis URL (`redis://HOST:PORT/DB`)
    that several processes share."""
    store_prefix: str = "recoup-mock"
    """The prefix of every Redis key and channel, so that several mocks can share one Redis."""
    store_connections: int = 10_000
    """Most connections one process opens to a Redis store: each open answer stream holds one
    while it waits for chunks (Redis's own default `maxclients` is 10,000 over all processes)."""
    workers: int = 1
    """Server processes sharing the listening socket; more than 1 needs a shared (Redis) store."""
    generation_lease: float = 5.0
    """Seconds within which, once its process stops renewing it (the process died or lost the
    store), another process ends a generation and frees its chat (see `domain/leases.py`)."""


def env_default(name: str, default: str | None) -> str | None:
    return os.environ.get(ENV_PREFIX + name.upper().replace("-", "_"), default)
