"""The layers hold: the domain loads no web framework, and nothing in it reaches up into HTTP."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import mock_server.domain

FRAMEWORKS = ("connexion", "starlette", "sse_starlette", "uvicorn", "httpx")
DOMAIN_DIR = Path(mock_server.domain.__file__).parent


def test_importing_the_domain_loads_no_web_framework():
    modules = ", ".join(
        f"mock_server.domain.{path.stem}" if path.parent == DOMAIN_DIR else "mock_server.domain.store"
        for path in sorted(DOMAIN_DIR.rglob("*.py"))
        if path.stem != "__init__"
    )
    probe = f"import sys, json, {modules}; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, check=True).stdout)
    assert "mock_server.domain.service" in loaded
    assert [m for m in loaded if m.split(".")[0] in FRAMEWORKS] == []


def test_the_domain_imports_nothing_from_the_http_layer():
    for path in DOMAIN_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            for name in names:
                assert not name.startswith(("mock_server.http", "mock_server.cli")), f"{path}: {name}"
                assert name.split(".")[0] not in FRAMEWORKS, f"{path}: {name}"
