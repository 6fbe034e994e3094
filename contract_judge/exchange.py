"""An HTTP exchange as the judge reads it: plain values, whatever client or server carried it."""

from __future__ import annotations

from dataclasses import dataclass

Headers = tuple[tuple[str, str], ...]


def header(headers: Headers, name: str) -> str | None:
    """The first value of `name` (any case) in `headers`."""
    name = name.lower()
    return next((value for key, value in headers if key.lower() == name), None)


class _Fields:
    headers: Headers

    def header(self, name: str) -> str | None:
        return header(self.headers, name)

    @property
    def content_type(self) -> str:
        return (self.header("content-type") or "").lower()


@dataclass(frozen=True)
class Request(_Fields):
    method: str
    path: str
    """The path as sent, percent-encoded."""
    query: tuple[tuple[str, str], ...] = ()
    headers: Headers = ()
    body: bytes = b""

    def param(self, name: str) -> str | None:
        return next((value for key, value in self.query if key == name), None)


@dataclass(frozen=True)
class Response(_Fields):
    status: int
    headers: Headers = ()
    body: bytes = b""
    """The body as its content coding decoded it."""

    @property
    def is_stream(self) -> bool:
        return self.content_type.startswith("text/event-stream")
