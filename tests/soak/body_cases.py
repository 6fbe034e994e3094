"""Raw cases that break a request's body: its size and depth, its framing (Content-Length,
Transfer-Encoding, chunks)."""

from __future__ import annotations

from tests.soak.raw import Abort, Close, HalfClose, Pause, RawCase, _head, _post, _send_body, nested
from tests.soak.target import C4, S4, Target


def sizes(t: Target) -> list[RawCase]:
    """Size and depth."""
    return [
        RawCase(
            "a 10 MiB body announced and sent",
            [_post(b"/api/sessions", b'{"title":"' + b"x" * (t.big - 12) + b'"}')],
            frozenset({413}),
            required=True,
        ),
        RawCase(
            "a 10 MiB body announced, 10 bytes sent",
            [_post(b"/api/sessions", b'{"title":"', length=t.big)],
            frozenset({413}),
            required=True,
        ),
        RawCase("JSON nested 10,000 deep", [_post(b"/api/sessions", nested(10_000))], S4, required=True),
        RawCase("JSON nested 100,000 deep", [_post(b"/api/sessions", nested(100_000))], S4, required=True),
        RawCase(
            "JSON nested 10,000 deep in a message",
            [
                _post(
                    b"/api/chat",
                    _send_body(
                        t.session_id, t.chat_id, b'", "x": ' + b"[" * 10_000 + b"]" * 10_000 + b', "y":"'
                    ),
                )
            ],
            S4,
            required=True,
        ),
        RawCase(
            "an integer of 5,000 digits in a JSON body",
            [_post(b"/api/sessions", b'{"title":' + t.digits + b"}")],
            S4,
        ),
        RawCase(
            "an integer of 5,000 digits in a message",
            [_post(b"/api/chat", _send_body(t.session_id, t.chat_id, b'", "n": ' + t.digits + b', "y":"'))],
            S4,
        ),
        RawCase("a float beyond double range", [_post(b"/api/sessions", b'{"title":1e999999}')], S4),
        RawCase("NaN in a JSON body", [_post(b"/api/sessions", b'{"title":NaN}')], S4),
        RawCase("JSON with trailing garbage", [_post(b"/api/sessions", b'{"title":"x"}}}}')], S4),
        RawCase("an empty JSON body", [_post(b"/api/chat", b"")], C4),
        RawCase("a JSON body that is a bare string", [_post(b"/api/chat", b'"hello"')], S4),
        RawCase(
            "a body of text/plain",
            [_head(b"POST", b"/api/chat", b"Content-Type: text/plain", b"Content-Length: 2") + b"{}"],
            C4,
        ),
        RawCase(
            "a multipart body with no boundary",
            [
                _head(b"POST", b"/api/chat", b"Content-Type: multipart/form-data", b"Content-Length: 2")
                + b"{}"
            ],
            C4,
        ),
    ]


def lengths(t: Target) -> list[RawCase]:
    """Framing: a body longer or shorter than its Content-Length, or a Content-Length that is not one."""
    return [
        RawCase(
            "Content-Length longer than the body, then the client ends its side",
            [_post(b"/api/chat", b'{"sessionId":', length=100), HalfClose],
            C4,
            answer_due=False,
        ),
        RawCase(
            "Content-Length longer than the body, then the client closes",
            [_post(b"/api/chat", b'{"sessionId":', length=100), Close],
            answer_due=False,
        ),
        RawCase(
            "Content-Length longer than the body, then the body stalls",
            [_post(b"/api/chat", b'{"sessionId":', length=100)],
            frozenset({408}),
        ),
        RawCase(
            "Content-Length shorter than the body, the rest junk",
            [_post(b"/api/chat", _send_body(t.session_id, t.chat_id, b"cut here"), length=20)],
            S4,
        ),
        RawCase(
            "Content-Length shorter than the body, the rest a pipelined request",
            [_post(b"/api/chat", b"{]") + _head(b"GET", t.chat_path)],
            S4,
            answers=2,
        ),
        RawCase(
            "a truncated body, then the client resets",
            [
                _post(b"/api/chat", _send_body(t.session_id, t.chat_id, b"half")[:40], length=500),
                Pause(0.05),
                Abort,
            ],
            answer_due=False,
        ),
        RawCase(
            "two equal Content-Lengths", [_post(b"/api/chat", b"{]", b"Content-Length: 2")], S4, required=True
        ),
        RawCase(
            "two different Content-Lengths",
            [_post(b"/api/chat", b"{]", b"Content-Length: 3")],
            S4,
            required=True,
        ),
        RawCase("Content-Length: -1", [_head(b"POST", b"/api/sessions", b"Content-Length: -1") + b"{}"], S4),
        RawCase(
            "Content-Length: abc", [_head(b"POST", b"/api/sessions", b"Content-Length: abc") + b"{}"], S4
        ),
        RawCase(
            "Content-Length of 30 digits",
            [_head(b"POST", b"/api/sessions", b"Content-Length: " + b"9" * 30) + b"{}"],
            frozenset({400, 413}),
        ),
    ]


def _chunked(path: bytes, *extra: bytes) -> bytes:
    """The head of a chunked JSON POST to `path`."""
    return _head(b"POST", path, b"Content-Type: application/json", b"Transfer-Encoding: chunked", *extra)


def encodings(t: Target) -> list[RawCase]:
    """Framing: Transfer-Encoding and chunked bodies."""
    gzip = _head(b"POST", b"/api/sessions", b"Content-Type: application/json", b"Transfer-Encoding: gzip")
    return [
        RawCase("Transfer-Encoding: gzip", [gzip + b"{}"], frozenset({400}), required=True),
        RawCase(
            "chunked with a bad chunk size",
            [_chunked(b"/api/sessions") + b"zz\r\n{}\r\n0\r\n\r\n"],
            S4,
            required=True,
        ),
        RawCase(
            "chunked with a chunk size of 2^64",
            [_chunked(b"/api/sessions") + b"10000000000000000\r\n{}\r\n"],
            frozenset({400, 413}),
        ),
        RawCase(
            "chunked and Content-Length both",
            [_chunked(b"/api/chat", b"Content-Length: 5") + b"2\r\n{}\r\n0\r\n\r\n"],
            S4,
            required=True,
        ),
        RawCase(
            "chunked, truncated, then the client closes",
            [_chunked(b"/api/chat") + b'40\r\n{"sessionId":', Close],
            answer_due=False,
        ),
        RawCase(
            "chunked, truncated, then the client ends its side",
            [_chunked(b"/api/chat") + b'40\r\n{"sessionId":', HalfClose],
            C4,
            answer_due=False,
        ),
        RawCase(
            "a whole message sent chunked with a bad trailer",
            [_chunked(b"/api/chat") + b"2\r\n{]\r\n0\r\nBad Trailer\r\n\r\n"],
            S4,
        ),
    ]
