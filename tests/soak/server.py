"""The bad-input soak's server: `recoup-mock serve` as a second process with the demo seed, the
seed's ids, and what it stores as `GET /__mock/state` shows it."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from loopback import Served, status_kb, stop_process, wait_until

KEY_A = "demo-key-a"
KEY_B = "demo-key-b"
SEED_SESSION_A = "aaaaaaaa-0000-4000-8000-000000000001"
SEED_SESSION_B = "bbbbbbbb-0000-4000-8000-000000000001"
IDLE_A = "11111111-1111-4111-8111-111111111111"
GENERATING_A = "22222222-2222-4222-8222-222222222222"
CHAT_B = "33333333-3333-4333-8333-333333333333"
SEEDED_RUNNING = 3
"""Chats of the demo seed that generate from the start, until stopped (two of them for ever)."""


# The server


@dataclass
class Server(Served):
    stderr_path: Path

    @property
    def base_url(self) -> str:
        return self.url

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def rss_kib(self) -> int:
        """The server process's resident memory (0 once it is gone)."""
        return status_kb(self.process.pid, "VmRSS") or 0


def _command() -> list[str]:
    script = Path(sys.executable).with_name("recoup-mock")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mock_server.cli"]


@contextlib.contextmanager
def running_server(directory: Path, name: str, *flags: str) -> Iterator[Server]:
    """`recoup-mock serve --host 127.0.0.1 --port 0 --quiet FLAGS` with the demo seed, as a second
    process, its stdout and stderr in files under `directory`; stopped (SIGTERM) when the block ends."""
    stdout_path = directory / f"{name}.stdout"
    stderr_path = directory / f"{name}.stderr"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_MOCK_")}
    env["PYTHONUNBUFFERED"] = "1"
    argv = [*_command(), "serve", "--host", "127.0.0.1", "--port", "0", "--quiet", *flags]
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
    try:
        banner = re.compile(r"Recoup mock on http://127\.0\.0\.1:(\d+)")
        wait_until(
            lambda: banner.search(stdout_path.read_text()) is not None,
            process,
            within=30,
            what="recoup-mock serve",
            output=lambda: stderr_path.read_text(errors="replace"),
        )
        found = banner.search(stdout_path.read_text())
        assert found is not None
        yield Server(process, int(found.group(1)), stderr_path)
    finally:
        stop_process(process)


# What the server stores, as GET /__mock/state shows it


@dataclass(frozen=True)
class Stored:
    sessions: int
    chats: int
    messages: int
    generating: int
    chats_with_a_run: int
    """Chats whose `generation` is shown (the run their activeStreamId names)."""

    def __str__(self) -> str:
        return (
            f"sessions={self.sessions} chats={self.chats} messages={self.messages} "
            f"generating={self.generating} chats-with-a-run={self.chats_with_a_run}"
        )


def stored(state: dict[str, Any]) -> Stored:
    sessions = [s for a in state["accounts"] for s in a["sessions"]]
    chats = [c for s in sessions for c in s["chats"]]
    return Stored(
        sessions=len(sessions),
        chats=len(chats),
        messages=sum(c["messageCount"] for c in chats),
        generating=len(state["generating"]),
        chats_with_a_run=sum(1 for c in chats if c["generation"] is not None),
    )


def chats_in(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for a in state["accounts"] for s in a["sessions"] for c in s["chats"]}


async def get_state(http: httpx.AsyncClient) -> dict[str, Any]:
    """`GET /__mock/state`, every page of it merged into one."""
    merged: dict[str, Any] | None = None
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 10000, **({"cursor": cursor} if cursor else {})}
        response = await http.get("/__mock/state", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        if merged is None:
            merged = page
        else:
            for account, more in zip(merged["accounts"], page["accounts"], strict=True):
                account["sessions"] += more["sessions"]
        cursor = page.get("nextCursor")
        if not cursor:
            return merged
