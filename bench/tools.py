"""What the benchmark runs with: wrk, Prism, the mock's own CLI; found or installed, and said which.

wrk comes from Debian (`apt-get install -y wrk`, only when missing and running as root); Prism from
npm (the CI's copy in `.ci/node_modules` when there, else `npm install --prefix bench/.node`).
Every decision is written to stderr as it is taken and kept in `Tools.notes` for the report.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_PREFIX = ROOT / "bench" / ".node"
PRISM_PACKAGE = "@stoplight/prism-cli@5"


def say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


@dataclass
class Tools:
    mock: Path
    python: Path
    contract: Path | None
    wrk: str | None
    prism: str | None
    mock_quiet: bool
    versions: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        say(text)
        self.notes.append(text)


def _run(command: list[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def _first_line(command: list[str]) -> str:
    try:
        done = _run(command, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def find_mock(given: Path | None) -> Path:
    candidates = [given] if given else [ROOT / ".venv" / "bin" / "recoup-mock"]
    found = shutil.which("recoup-mock")
    if not given and found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate and candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit(
        "bench: recoup-mock not found; install the project first "
        "(python3 -m venv .venv && .venv/bin/pip install -e '.[dev]') or pass --mock PATH"
    )


def find_wrk(tools: Tools, install: bool) -> None:
    found = shutil.which("wrk")
    if found:
        tools.note(f"wrk: {found} (found)")
    elif not install:
        tools.note("wrk: not found and --no-install given; the wrk parts are skipped")
    elif os.geteuid() == 0 and shutil.which("apt-get"):
        tools.note("wrk: missing; installing Debian's package: apt-get install -y wrk")
        done = _run(["apt-get", "install", "-y", "-q", "wrk"])
        if done.returncode != 0:
            _run(["apt-get", "update", "-q"])
            done = _run(["apt-get", "install", "-y", "-q", "wrk"])
        found = shutil.which("wrk")
        tools.note(f"wrk: {found} (installed with apt-get)" if found else "wrk: apt-get install failed")
    else:
        tools.note(
            "wrk: not found; install it (Debian/Ubuntu: sudo apt-get install -y wrk, macOS: "
            "brew install wrk) or put it on PATH; the wrk parts are skipped"
        )
    tools.wrk = found
    if found:
        tools.versions["wrk"] = _first_line([found, "-v"]).split(" Copyright")[0].removeprefix("wrk ")


def find_prism(tools: Tools, given: str | None, install: bool) -> None:
    candidates = [
        given,
        os.environ.get("RECOUP_PRISM"),
        str(ROOT / ".ci" / "node_modules" / ".bin" / "prism"),
        str(NODE_PREFIX / "node_modules" / ".bin" / "prism"),
        shutil.which("prism"),
    ]
    found = next((c for c in candidates if c and os.access(c, os.X_OK)), None)
    if found:
        tools.note(f"Prism: {found} (found)")
    elif not install:
        tools.note("Prism: not found and --no-install given; the Prism row is skipped")
    elif shutil.which("npm") and shutil.which("node"):
        tools.note(f"Prism: missing; installing from npm: npm install --prefix {NODE_PREFIX} {PRISM_PACKAGE}")
        flags = ["--no-save", "--no-audit", "--no-fund", "--silent"]
        done = _run(["npm", "install", "--prefix", str(NODE_PREFIX), *flags, PRISM_PACKAGE])
        path = NODE_PREFIX / "node_modules" / ".bin" / "prism"
        found = str(path) if done.returncode == 0 and path.exists() else None
        tools.note(
            f"Prism: {found} (installed with npm)" if found else f"Prism: npm failed: {done.stderr[-300:]}"
        )
    else:
        tools.note("Prism: not found and no node/npm on PATH (install Node.js to compare); row skipped")
    tools.prism = found
    if found:
        tools.versions["prism"] = _first_line([found, "--version"])


def detect(mock: Path | None, prism: str | None, install: bool, need_wrk: bool, need_prism: bool) -> Tools:
    """Find (or install) everything the selected parts need, saying which."""
    mock_path = find_mock(mock)
    python = mock_path.parent / "python"
    contract = mock_path.parent / "recoup-contract"
    help_text = _run([str(mock_path), "serve", "--help"], timeout=60).stdout
    tools = Tools(
        mock=mock_path,
        python=python if python.exists() else Path(sys.executable),
        contract=contract if contract.exists() else None,
        wrk=None,
        prism=None,
        mock_quiet="--quiet" in help_text,
    )
    tools.versions["recoup-mock"] = _first_line([str(mock_path), "--version"]).removeprefix("recoup-mock ")
    tools.note(f"mock: {mock_path} (version {tools.versions['recoup-mock']})")
    tools.note(
        "mock: serve --quiet is available; measured as its own row"
        if tools.mock_quiet
        else "mock: serve has no --quiet flag (yet); only --log-level warning is measured"
    )
    if need_wrk:
        find_wrk(tools, install)
    if need_prism:
        find_prism(tools, prism, install)
    return tools
