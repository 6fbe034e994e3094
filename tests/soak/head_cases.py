"""Raw cases that break a request's head: its headers and methods."""

from __future__ import annotations

from tests.soak.raw import RawCase, _head, _post
from tests.soak.target import Target


def methods(t: Target) -> list[RawCase]:
    """Methods."""
    return [
        RawCase("method BREW", [_head(b"BREW", b"/api/sessions")], frozenset({400, 405})),
        RawCase("method PROPFIND", [_head(b"PROPFIND", b"/api/sessions")], frozenset({405})),
        RawCase("method post in lower case", [_head(b"post", t.stop)], frozenset({400, 405})),
        RawCase("a 1 KiB method name", [_head(b"A" * 1024, b"/api/sessions")], frozenset({400})),
        RawCase("method CONNECT", [_head(b"CONNECT", b"127.0.0.1:443")], frozenset({400, 404, 405})),
        RawCase("method TRACE", [_head(b"TRACE", b"/api/sessions")], frozenset({405})),
        RawCase("OPTIONS *", [_head(b"OPTIONS", b"*")], frozenset({200, 204, 400, 404, 405})),
        RawCase("method PUT on a chat", [_head(b"PUT", t.chat_path)], frozenset({405})),
        RawCase("HEAD of a chat", [_head(b"HEAD", t.chat_path)]),
    ]


def header_sizes(t: Target) -> list[RawCase]:
    """Headers too large, or too many."""
    return [
        RawCase(
            "a header of 64 KiB",
            [_head(b"GET", t.chat_path, b"X-Big: " + b"a" * 65536)],
            frozenset({400, 431}),
            required=True,
        ),
        RawCase(
            "200 headers",
            [_head(b"GET", t.chat_path, *(b"X-H%d: v%d" % (n, n) for n in range(200)))],
            frozenset({200, 400, 431}),
        ),
        RawCase(
            "20,000 tiny headers",
            [_head(b"GET", t.chat_path, *(b"a:" for _ in range(20_000)))],
            frozenset({400, 431}),
        ),
    ]


def header_syntax(t: Target) -> list[RawCase]:
    """Header lines no parser should take as they are."""
    return [
        RawCase(
            "a NUL byte in a header value",
            [_head(b"POST", t.stop, b"x-api-key: demo\x00key", key=False)],
            frozenset({400}),
        ),
        RawCase(
            "a NUL byte in another header", [_head(b"GET", t.chat_path, b"X-Note: a\x00b")], frozenset({400})
        ),
        RawCase(
            "a header line without a colon", [_head(b"GET", t.chat_path, b"NoColonHere")], frozenset({400})
        ),
        RawCase(
            "an obs-fold continuation line",
            [_head(b"GET", t.chat_path, b"X-A: one", b" two")],
            frozenset({200, 400}),
        ),
        RawCase(
            "a space before a header's colon", [_head(b"GET", t.chat_path, b"X-A : one")], frozenset({400})
        ),
        RawCase(
            "bare LF line endings",
            [_head(b"GET", t.chat_path).replace(b"\r\n", b"\n")],
            frozenset({200, 400}),
        ),
        RawCase(
            "no Host header",
            [_head(b"GET", t.chat_path).replace(b"Host: 127.0.0.1\r\n", b"")],
            frozenset({200, 400}),
        ),
        RawCase(
            "an absolute-form target",
            [_head(b"GET", b"http://evil.example" + t.chat_path)],
            frozenset({200, 400, 404}),
        ),
    ]


def header_meanings(t: Target) -> list[RawCase]:
    """Well-formed headers that ask for what the contract does not do."""
    return [
        RawCase(
            "both x-api-key and Authorization",
            [_head(b"POST", t.stop, b"Authorization: Bearer demo-key-a")],
            frozenset({401}),
        ),
        RawCase(
            "an x-api-key of 10 KiB",
            [_head(b"POST", t.stop, b"x-api-key: " + b"k" * 10240, key=False)],
            frozenset({401}),
        ),
        RawCase(
            "Upgrade: websocket on an API path",
            [_head(b"GET", t.chat_path, b"Connection: Upgrade", b"Upgrade: websocket")],
        ),
        RawCase(
            "Upgrade: h2c",
            [
                _head(
                    b"GET",
                    t.chat_path,
                    b"Connection: Upgrade, HTTP2-Settings",
                    b"Upgrade: h2c",
                    b"HTTP2-Settings: AAMAAABkAAQAAP__",
                )
            ],
        ),
        RawCase(
            "Expect: 100-continue, then a bad body",
            [_post(b"/api/chat", b"{]", b"Expect: 100-continue")],
            frozenset({100, 400}),
        ),
    ]
