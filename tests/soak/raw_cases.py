"""The raw-socket cases of the bad-input soak, by what they break. Every body that could change a
chat is aimed at `Target.chat_id` (an idle chat the soak snapshotted), so one a server wrongly
accepts shows as a change."""

from __future__ import annotations

from tests.soak.body_cases import encodings, lengths, sizes
from tests.soak.head_cases import header_meanings, header_sizes, header_syntax, methods
from tests.soak.raw import RawCase, _head, _post, _send_body
from tests.soak.target import C4, OK, S4, Target


def raw_cases(session_id: str, chat_id: str) -> list[RawCase]:
    """Every raw-socket case, aimed at `chat_id` in `session_id`."""
    t = Target(session_id, chat_id)
    return [case for group in GROUPS for case in group(t)]


def _odd_bytes(t: Target) -> list[RawCase]:
    """Invalid UTF-8 and odd bytes."""
    return [
        RawCase("invalid UTF-8 in the path", [_head(b"GET", b"/api/sessions/\xff\xfe/chats")], C4),
        RawCase("invalid UTF-8 in the path, percent-encoded", [_head(b"POST", b"/api/chat/%ff%fe/stop")], S4),
        RawCase("invalid UTF-8 in the query", [_head(b"GET", t.stream + b"?startIndex=\xff")], S4),
        RawCase(
            "invalid UTF-8 in the query, percent-encoded",
            [_head(b"GET", t.stream + b"?startIndex=%ff%fe")],
            S4,
        ),
        RawCase(
            "invalid UTF-8 in x-api-key", [_head(b"POST", t.stop, b"x-api-key: \xff\xfe", key=False)], C4
        ),
        RawCase(
            "invalid UTF-8 in Authorization",
            [_head(b"POST", t.stop, b"Authorization: Bearer \xc3\x28", key=False)],
            C4,
        ),
        RawCase("invalid UTF-8 in another header", [_head(b"GET", t.chat_path, b"X-Note: \xc3\x28\xff")]),
        RawCase(
            "invalid UTF-8 in a message's text",
            [_post(b"/api/chat", _send_body(t.session_id, t.chat_id, b"\xff\xfe\xc3\x28"))],
            S4,
            required=True,
        ),
        RawCase("invalid UTF-8 in a session title", [_post(b"/api/sessions", b'{"title":"\xff\xfe"}')], S4),
        RawCase(
            "a UTF-16 body announced as JSON",
            [_post(b"/api/chat", _send_body(t.session_id, t.chat_id, b"hi").decode().encode("utf-16"))],
            S4,
        ),
        RawCase(
            "a NUL byte in a JSON string",
            [_post(b"/api/chat", _send_body(t.session_id, t.chat_id, b"a\x00b"))],
            S4,
        ),
    ]


def _request_lines(t: Target) -> list[RawCase]:
    """Request lines and versions."""
    return [
        RawCase(
            "a request line of 100 KiB",
            [_head(b"GET", b"/api/sessions/" + b"a" * 102400 + b"/chats")],
            frozenset({400, 414, 431}),
            required=True,
        ),
        RawCase("a request line that never ends", [b"GET /" + b"a" * 200_000], frozenset({400, 414, 431})),
        RawCase("HTTP/1.0", [_head(b"GET", t.chat_path, version=b"HTTP/1.0")], OK),
        RawCase(
            "HTTP/1.0 with a bad body", [_post(b"/api/chat", b"{]").replace(b"HTTP/1.1", b"HTTP/1.0", 1)], S4
        ),
        RawCase("HTTP/0.9", [b"GET " + t.chat_path + b"\r\n"], frozenset({400, 408})),
        RawCase(
            "HTTP/2.0 in the request line",
            [_head(b"GET", t.chat_path, version=b"HTTP/2.0")],
            frozenset({400}),
        ),
        RawCase(
            "HTTP/1.2 in the request line",
            [_head(b"GET", t.chat_path, version=b"HTTP/1.2")],
            frozenset({200, 400}),
        ),
        RawCase("the HTTP/2 preface", [b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"], frozenset({400})),
        RawCase(
            "a TLS ClientHello",
            [b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(32))],
            frozenset({400}),
        ),
        RawCase(
            "empty lines before the request",
            [b"\r\n\r\n" + _head(b"GET", t.chat_path)],
            frozenset({200, 400}),
        ),
        RawCase("a control character in the target", [_head(b"GET", b"/api/\x7f/x")], frozenset({400})),
    ]


def _paths(t: Target) -> list[RawCase]:
    """Paths and queries."""
    return [
        RawCase("a NUL as the chat id", [_head(b"POST", b"/api/chat/%00/stop")], frozenset({400, 404})),
        RawCase(
            "an encoded ../ as the chat id",
            [_head(b"POST", b"/api/chat/..%2F..%2Fetc/stop")],
            frozenset({400, 404}),
        ),
        RawCase(
            "a raw ../ in the path", [_head(b"POST", b"/api/chat/../../etc/stop")], frozenset({400, 404, 405})
        ),
        RawCase(
            "an encoded .. as the session id",
            [_head(b"GET", b"/api/sessions/%2e%2e/chats")],
            frozenset({400, 404}),
        ),
        RawCase("a broken percent escape", [_head(b"POST", b"/api/chat/%zz/stop")], frozenset({400, 404})),
        RawCase("doubled slashes", [_head(b"GET", b"//api//sessions")], frozenset({404, 405})),
        RawCase("startIndex=-1", [_head(b"GET", t.stream + b"?startIndex=-1")], S4),
        RawCase(
            "startIndex of 30 digits",
            [_head(b"GET", t.stream + b"?startIndex=" + b"9" * 30)],
            frozenset({204, 400}),
        ),
        RawCase(
            "startIndex of 5,000 digits",
            [_head(b"GET", t.stream + b"?startIndex=" + t.digits)],
            frozenset({204, 400}),
        ),
        RawCase("startIndex as a superscript digit", [_head(b"GET", t.stream + b"?startIndex=%C2%B2")], S4),
        RawCase(
            "startIndex twice",
            [_head(b"GET", t.stream + b"?startIndex=1&startIndex=x")],
            frozenset({204, 400}),
        ),
        RawCase(
            "a query of 1,000 parameters",
            [_head(b"GET", t.stream + b"?" + b"&".join(b"p%d=1" % n for n in range(1000)))],
            frozenset({204, 400, 414, 431}),
        ),
    ]


def _numbers(t: Target) -> list[RawCase]:
    """Prefer and the admin API's queries: numbers Python's int() refuses."""
    return [
        RawCase("Prefer: delay of 5,000 digits", [_head(b"POST", t.stop, b"Prefer: delay=" + t.digits)], S4),
        RawCase("Prefer: delay as a superscript digit", [_head(b"POST", t.stop, b"Prefer: delay=\xb2")], S4),
        RawCase(
            "Prefer: code as superscript digits", [_head(b"POST", t.stop, b"Prefer: code=\xb2\xb2\xb2")], S4
        ),
        RawCase(
            "Prefer: 1,000 preferences",
            [_head(b"POST", t.stop, b"Prefer: " + b", ".join([b"code=200"] * 1000))],
            frozenset({200, 400}),
        ),
        RawCase("Prefer: an unclosed quote", [_head(b"POST", t.stop, b'Prefer: code="200')], S4),
        RawCase(
            "journal since= a superscript digit",
            [_head(b"GET", b"/__mock/journal?since=%C2%B2", key=False)],
            S4,
        ),
        RawCase(
            "journal since= 5,000 digits",
            [_head(b"GET", b"/__mock/journal?since=" + t.digits, key=False)],
            S4,
        ),
        RawCase(
            "journal limit= 5,000 digits",
            [_head(b"GET", b"/__mock/journal?limit=" + t.digits, key=False)],
            S4,
        ),
        RawCase(
            "state cursor= a superscript digit",
            [_head(b"GET", b"/__mock/state?cursor=%C2%B2", key=False)],
            S4,
        ),
        RawCase(
            "state cursor= 12 digits", [_head(b"GET", b"/__mock/state?cursor=999999999999", key=False)], OK
        ),
        RawCase("journal since= invalid UTF-8", [_head(b"GET", b"/__mock/journal?since=%ff", key=False)], S4),
    ]


GROUPS = (
    _odd_bytes,
    sizes,
    methods,
    header_sizes,
    header_syntax,
    header_meanings,
    lengths,
    encodings,
    _request_lines,
    _paths,
    _numbers,
)
