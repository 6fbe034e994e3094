"""What the benchmark runs with: wrk, Prism, the mock's own CLI; found or installed, and said which.

wrk comes from Debian (`apt-get install -y wrk`, only when missing and running as root); Prism from
npm (the CI's copy in `.ci/node_modules` when there, else `npm install --prefix bench/.node`).
The other peers (WireMock, Mockoon, and WireMock's Java) are found in bench/peers.py with the same
helpers. Every decision is written to stderr as it is taken and kept in `Tools.notes` for the report.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_PREFIX = ROOT / "bench" / ".node"
PRISM_PACKAGE = "@stoplight/prism-cli@5"
WIREMOCK_PACKAGE = "wiremock@3"
MOCKOON_PACKAGE = "@mockoon/cli@9"
NPM_PACKAGES = (PRISM_PACKAGE, WIREMOCK_PACKAGE, MOCKOON_PACKAGE)
"""Every npm package bench installs into NODE_PREFIX, as `name@major`."""


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
    mock_max_generations: int | None = None
    """`serve --max-generations`'s default (answers generating at once), when its help says."""
    wiremock: str | None = None
    """WireMock's standalone jar, set only when `java` is found too."""
    java: str | None = None
    mockoon: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        say(text)
        self.notes.append(text)


def _run(command: list[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def first_line(command: list[str]) -> str:
    try:
        done = _run(command, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def apt_install(tools: Tools, label: str, package: str) -> bool:
    """`apt-get install -y PACKAGE` (an `apt-get update` and one more try when it fails), when running
    as root with apt-get; False, without trying, otherwise."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    tools.note(f"{label}: missing; installing Debian's package: apt-get install -y {package}")
    done = _run(["apt-get", "install", "-y", "-q", package])
    if done.returncode != 0:
        _run(["apt-get", "update", "-q"])
        done = _run(["apt-get", "install", "-y", "-q", package])
    if done.returncode != 0:
        tools.note(f"{label}: apt-get install -y {package} failed: {done.stderr.strip()[-200:]}")
    return done.returncode == 0


def _installed(spec: str) -> str | None:
    """`name@version` of the npm package `spec` names when NODE_PREFIX holds it, else None."""
    name = spec.rsplit("@", 1)[0] if spec.rfind("@") > 0 else spec
    manifest = NODE_PREFIX / "node_modules" / name / "package.json"
    try:
        return f"{name}@{json.loads(manifest.read_text())['version']}"
    except (OSError, ValueError, KeyError):
        return None


def npm_install(tools: Tools, label: str, package: str) -> bool:
    """`npm install --prefix bench/.node PACKAGE`, saying so; False (said) when npm fails.

    The packages already in bench/.node are named again at their installed versions: with
    `--no-save` nothing lists them, and npm would remove them as extraneous.
    """
    kept = [spec for other in NPM_PACKAGES if other != package and (spec := _installed(other))]
    tools.note(f"{label}: missing; installing from npm: npm install --prefix {NODE_PREFIX} {package}")
    flags = ["--no-save", "--no-audit", "--no-fund", "--silent"]
    done = _run(["npm", "install", "--prefix", str(NODE_PREFIX), *flags, package, *kept])
    if done.returncode != 0:
        tools.note(f"{label}: npm failed: {done.stderr[-300:]}")
    return done.returncode == 0


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
    elif apt_install(tools, "wrk", "wrk"):
        found = shutil.which("wrk")
        tools.note(f"wrk: {found} (installed with apt-get)" if found else "wrk: apt-get install failed")
    else:
        tools.note(
            "wrk: not found; install it (Debian/Ubuntu: sudo apt-get install -y wrk, macOS: "
            "brew install wrk) or put it on PATH; the wrk parts are skipped"
        )
    tools.wrk = found
    if found:
        tools.versions["wrk"] = first_line([found, "-v"]).split(" Copyright")[0].removeprefix("wrk ")


def find_npm_tool(
    tools: Tools, label: str, candidates: list[str | None], installed: Path, package: str, install: bool
) -> str | None:
    """The first executable of `candidates`, else `installed` once npm has installed `package`
    (when `install`), each decision said in `tools.notes`; None when there is none."""
    found = next((c for c in candidates if c and os.access(c, os.X_OK)), None)
    if found:
        tools.note(f"{label}: {found} (found)")
    elif not install:
        tools.note(f"{label}: not found and --no-install given; the {label} row is skipped")
    elif shutil.which("npm") and shutil.which("node"):
        if npm_install(tools, label, package) and os.access(installed, os.X_OK):
            found = str(installed)
            tools.note(f"{label}: {found} (installed with npm)")
        elif _installed(package):
            tools.note(f"{label}: npm installed it, but {installed} is missing; row skipped")
    else:
        tools.note(f"{label}: not found and no node/npm on PATH (install Node.js to compare); row skipped")
    return found


def find_prism(tools: Tools, given: str | None, install: bool) -> None:
    candidates = [
        given,
        os.environ.get("RECOUP_PRISM"),
        str(ROOT / ".ci" / "node_modules" / ".bin" / "prism"),
        str(NODE_PREFIX / "node_modules" / ".bin" / "prism"),
        shutil.which("prism"),
    ]
    installed = NODE_PREFIX / "node_modules" / ".bin" / "prism"
    found = find_npm_tool(tools, "Prism", candidates, installed, PRISM_PACKAGE, install)
    tools.prism = found
    if found:
        tools.versions["prism"] = first_line([found, "--version"])


def _max_generations(help_text: str) -> int | None:
    """The default of `--max-generations` in `serve --help` (0: no bound), or None when it has none."""
    found = re.search(r"--max-generations N\s.*?\(default: (\d+)\)", help_text, re.DOTALL)
    return int(found.group(1)) if found else None


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
        mock_max_generations=_max_generations(help_text),
    )
    tools.versions["recoup-mock"] = first_line([str(mock_path), "--version"]).removeprefix("recoup-mock ")
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
