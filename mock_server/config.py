"""Settings of a mock server, with their defaults and environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass

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
    stop_timeout: float = 8.0
    """Seconds a stop waits for a cancelled generation to end before answering 504."""
    log_level: str = "info"
    cors_origins: tuple[str, ...] = ("*",)
    """Origins whose browser pages may call the mock; `*` allows any (the development default)."""
    latency: float = 0.0
    """Seconds added before every API answer (not the admin API, Swagger UI or the demo page)."""
    journal_size: int = 1000
    """How many requests the journal keeps; the oldest are dropped first."""


def env_default(name: str, default: str | None) -> str | None:
    return os.environ.get(ENV_PREFIX + name.upper().replace("-", "_"), default)
