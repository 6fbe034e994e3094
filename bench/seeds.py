"""Seed files for each part, in the mock's seed format (docs/seeds.md), with fixed ids.

Ids are deterministic (a seeded random UUID v4 per purpose), so two runs load the same data.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KEY_A = "bench-key-a"
KEY_B = "bench-key-b"
Seed = dict[str, Any]


class Ids:
    """Deterministic UUIDs."""

    def __init__(self, label: str) -> None:
        self._random = random.Random(label)

    def __call__(self) -> str:
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))


def _accounts(a_sessions: list[Seed], b_sessions: list[Seed]) -> Seed:
    return {
        "accounts": [
            {"id": "bench-a", "api_keys": [KEY_A], "sessions": a_sessions},
            {"id": "bench-b", "api_keys": [KEY_B], "sessions": b_sessions},
        ]
    }


def write(seed: Seed, path: Path) -> Path:
    path.write_text(json.dumps(seed), encoding="utf-8")
    return path


LONG_ANSWER = "Here is one more sentence of a long answer. " * 12
"""96 words: 24 s at the default pace, longer than any part needs a chat to keep generating."""


def generating(chat_id: str, *, endless: bool = False) -> Seed:
    """A chat generating a long answer, or (`endless`) one repeated until stopped.

    `repeat: true` makes the mock build 20,000 chunks per generation up front (about 4 MB and tens
    of milliseconds each with recoup-mock 0.1.0), so pools of generating chats use a long answer
    instead, and the parts measure stops rather than that.
    """
    return {
        "id": chat_id,
        "title": "Generating",
        "messages": [{"role": "user", "text": "Write a long press release."}],
        "generating": {"text": LONG_ANSWER.strip(), "repeat": endless},
    }


def idle(chat_id: str) -> Seed:
    return {"id": chat_id, "title": "Idle", "messages": [{"role": "user", "text": "Hello"}]}


def bare_seed() -> Seed:
    """Accounts A and B with their keys and nothing else: a client makes its own sessions and chats."""
    return _accounts([], [])


@dataclass
class StopSeed:
    """One idle chat of account A (the stop part's target) and one chat of account B."""

    chat: str
    seed: Seed


def stop_seed() -> StopSeed:
    ids = Ids("stop")
    chat = ids()
    seed = _accounts([{"id": ids(), "chats": [idle(chat)]}], [{"id": ids(), "chats": [idle(ids())]}])
    return StopSeed(chat, seed)


@dataclass
class MixSeed:
    """Account A's generating pool and idle chats, account B's chats, and unknown ids."""

    running: list[str] = field(default_factory=list)
    idle: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    seed: Seed = field(default_factory=dict)

    def lua_file(self, path: Path) -> Path:
        """The ids as `kind id` lines, read by `lua/mix.lua`."""
        lines = [
            f"{kind} {chat}"
            for kind in ("running", "idle", "foreign", "unknown")
            for chat in getattr(self, kind)
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


MIX_POOL = 128
"""Running chats per wrk thread; each is re-armed MIX_LAG cycles after its stop, so about
MIX_POOL - MIX_LAG of them generate at any time."""
MIX_LAG = 96


def mix_seed(threads: int, pool_per_thread: int = MIX_POOL, others: int = 64) -> MixSeed:
    ids = Ids("mix")
    mix = MixSeed()
    mix.running = [ids() for _ in range(threads * pool_per_thread)]
    mix.idle = [ids() for _ in range(others)]
    mix.foreign = [ids() for _ in range(others)]
    mix.unknown = [ids() for _ in range(others)]
    a_chats = [generating(c) for c in mix.running] + [idle(c) for c in mix.idle]
    a_sessions = [
        {"id": ids(), "title": "Mix", "chats": a_chats[i : i + 100]} for i in range(0, len(a_chats), 100)
    ]
    mix.seed = _accounts(a_sessions, [{"id": ids(), "title": "B", "chats": [idle(c) for c in mix.foreign]}])
    return mix


def streams_seed(count: int, *, armed: bool = True) -> tuple[list[str], Seed]:
    """`count` chats of account A generating a long answer from the start, or (not `armed`) idle
    until their generations are started later (`POST /__mock/chats/{id}/generate`)."""
    ids = Ids("streams")
    chats = [ids() for _ in range(count)]
    chat = generating if armed else idle
    sessions = [{"id": ids(), "chats": [chat(c) for c in chats[i : i + 100]]} for i in range(0, count, 100)]
    return chats, _accounts(sessions, [])


def scale_seed(sessions: int, chats_per_session: int) -> tuple[str, Seed]:
    """`sessions` sessions of `chats_per_session` idle chats, half of them A's; returns an A session's id."""
    ids = Ids("scale")
    made: list[Seed] = [
        {
            "id": ids(),
            "title": f"Session {s}",
            "chats": [{"id": ids(), "title": f"Chat {c}"} for c in range(chats_per_session)],
        }
        for s in range(sessions)
    ]
    half = (sessions + 1) // 2
    a_sessions, b_sessions = made[:half], made[half:]
    session_id: str = a_sessions[len(a_sessions) // 2]["id"]
    return session_id, _accounts(a_sessions, b_sessions)
