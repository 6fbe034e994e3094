"""Running wrk with one of `bench/lua/*.lua` and reading its one result line.

Every script is prefixed with `lua/report.lua`, whose `done()` prints `BENCH-RESULT {json}`: the
request count, duration, latency percentiles (microseconds), socket errors and non-2xx/3xx count.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LUA = Path(__file__).parent / "lua"
MARK = "BENCH-RESULT "


@dataclass(frozen=True)
class Load:
    """wrk's load: threads, connections, duration (s), per-request timeout (s)."""

    threads: int = 2
    connections: int = 32
    duration: int = 10
    timeout: int = 10

    def describe(self) -> str:
        return f"wrk -t{self.threads} -c{self.connections} -d{self.duration}s"


@dataclass
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int
    non_2xx: int
    tally: dict[str, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @classmethod
    def parse(cls, line: str) -> WrkResult:
        data: dict[str, Any] = json.loads(line)
        return cls(
            requests=data["requests"],
            seconds=data["duration_us"] / 1e6,
            p50_ms=data["p50_us"] / 1e3,
            p90_ms=data["p90_us"] / 1e3,
            p99_ms=data["p99_us"] / 1e3,
            max_ms=data["max_us"] / 1e3,
            socket_errors=sum(data[k] for k in ("connect", "read", "write", "timeout")),
            non_2xx=data["status"],
            tally=dict(data.get("tally", {})),
        )


class WrkFailed(RuntimeError):
    pass


def run(wrk: str, url: str, script: str, args: Sequence[str], load: Load) -> WrkResult:
    """Run `wrk` against `url` with `lua/{script}.lua` and its arguments; return what it measured."""
    text = (LUA / "report.lua").read_text() + "\n" + (LUA / f"{script}.lua").read_text()
    with tempfile.NamedTemporaryFile("w", prefix="bench-", suffix=".lua") as lua:
        lua.write(text)
        lua.flush()
        command = [wrk, f"-t{load.threads}", f"-c{load.connections}", f"-d{load.duration}s"]
        command += [f"--timeout={load.timeout}s", "-s", lua.name, url, "--", *args]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=load.duration + 120, check=False
        )
    for line in done.stdout.splitlines():
        if line.startswith(MARK):
            return WrkResult.parse(line[len(MARK) :])
    raise WrkFailed(
        f"wrk exited with {done.returncode} and no result:\n{done.stdout[-800:]}{done.stderr[-800:]}"
    )
