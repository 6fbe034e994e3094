"""A request as the server receives it: routed path parameters, the query string and the body's bytes."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from tests.alignment.operations import JSON


@dataclass
class Wire:
    """A request as the server receives it (its path already routed)."""

    path_params: dict[str, str]
    query: str = ""
    body: bytes | None = None
    content_type: str | None = JSON

    def query_values(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)

    def describe(self) -> str:
        return f"path {self.path_params}, query {self.query!r}, {self.content_type} body {self.body!r}"
