"""The stop part's peers besides Prism: WireMock 3 standalone (and the Java it needs), Mockoon CLI 9.

Each is found or installed and the report says which, as Prism is (bench/tools.py): WireMock's jar
from the npm package `wiremock` (it ships the standalone jar), Java from Debian's
`default-jre-headless` (only when missing and running as root with apt-get), Mockoon's CLI from
the npm package `@mockoon/cli`. With `--no-install`, or without node/npm or Java, the row is skipped
and the note says why.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.tools import (
    MOCKOON_PACKAGE,
    NODE_PREFIX,
    ROOT,
    WIREMOCK_PACKAGE,
    Tools,
    apt_install,
    find_npm_tool,
    first_line,
    npm_install,
)

JRE_PACKAGE = "default-jre-headless"
MODULE_DIRS = (ROOT / ".ci" / "node_modules", NODE_PREFIX / "node_modules")
"""Where an npm package may already be: the CI's copy, then bench's own."""


def _jar_in(modules: Path) -> str | None:
    """The newest standalone jar the npm package `wiremock` holds under `modules`, if any."""
    jars = sorted((modules / "wiremock" / "build").glob("wiremock-standalone-*.jar"))
    return str(jars[-1]) if jars else None


def find_java(tools: Tools, install: bool) -> str | None:
    """`java` on PATH, or installed from Debian when missing (root and apt-get only)."""
    found = shutil.which("java")
    if found:
        tools.note(f"Java: {found} (found)")
    elif install and apt_install(tools, "Java", JRE_PACKAGE):
        found = shutil.which("java")
        tools.note(f"Java: {found} (installed with apt-get)" if found else "Java: still not on PATH")
    else:
        why = (
            "--no-install given"
            if not install
            else f"install a JRE (Debian: apt-get install -y {JRE_PACKAGE})"
        )
        tools.note(f"Java: not found ({why}); the WireMock row is skipped")
    if found:
        line = first_line([found, "-version"])  # openjdk version "17.0.15" 2025-04-15
        quoted = line.split('"')
        tools.versions["java"] = quoted[1] if len(quoted) > 2 else line
    return found


def find_wiremock(tools: Tools, given: str | None, install: bool) -> None:
    """WireMock's standalone jar (`--wiremock`, else an npm copy, else installed from npm) and Java."""
    found = given if given and Path(given).is_file() else None
    if given and not found:
        tools.note(f"WireMock: {given} is not a file; looking elsewhere")
    found = found or next((jar for d in MODULE_DIRS if (jar := _jar_in(d))), None)
    if found:
        tools.note(f"WireMock: {found} (found)")
    elif not install:
        tools.note("WireMock: not found and --no-install given; the WireMock row is skipped")
    elif shutil.which("npm"):
        found = _jar_in(MODULE_DIRS[-1]) if npm_install(tools, "WireMock", WIREMOCK_PACKAGE) else None
        if found:
            tools.note(f"WireMock: {found} (installed with npm)")
    else:
        tools.note("WireMock: not found and no npm on PATH (install Node.js to compare); row skipped")
    if not found:
        return
    java = find_java(tools, install)
    if java:
        tools.wiremock, tools.java = found, java
        tools.versions["wiremock"] = first_line([java, "-jar", found, "--version"])


def find_mockoon(tools: Tools, given: str | None, install: bool) -> None:
    """Mockoon's CLI (`--mockoon`, else an npm copy or one on PATH, else installed from npm)."""
    bins = [str(d / ".bin" / "mockoon-cli") for d in MODULE_DIRS]
    candidates = [given, *bins, shutil.which("mockoon-cli")]
    found = find_npm_tool(tools, "Mockoon", candidates, Path(bins[-1]), MOCKOON_PACKAGE, install)
    tools.mockoon = found
    if found:
        # `@mockoon/cli/9.9.0 linux-x64 node-v20.20.2`: the version is the package name's tail.
        tools.versions["mockoon-cli"] = first_line([found, "--version"]).split()[0].rsplit("/", 1)[-1]


def detect(tools: Tools, wiremock: str | None, mockoon: str | None, install: bool) -> None:
    """Find (or install) WireMock, its Java, and Mockoon into `tools`, saying which."""
    find_wiremock(tools, wiremock, install)
    find_mockoon(tools, mockoon, install)
