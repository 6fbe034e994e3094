"""Schemathesis's way into the target: a WSGI app that sends every request through `Outgoing`.

Schemathesis sends its own probes (the `ignored_auth` check re-sends a request without and with
wrong credentials) without the session it was given, so only a schema whose `app` is this bridge
sends every request, probes included, through the suite's one builder, on the target's loop.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from wsgiref.util import request_uri

from schemathesis.core import SCHEMATHESIS_TEST_CASE_HEADER  # a seam: tests/seams.py

from contract_tests.outgoing import curl_for, server_faults

if TYPE_CHECKING:
    from contract_tests.target import Target

# Event streams may never end; like Schemathesis's own clients, read this many events at most.
MAX_STREAM_EVENTS = 20
# Curl lines of the last Schemathesis requests, by test case id, for the report.
JOURNAL_SIZE = 2000


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class SchemathesisBridge:
    """The target as a WSGI app, for Schemathesis."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.journal: dict[str, str] = {}
        """Curl lines of Schemathesis's requests by test case id (its failures name the case)."""

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        headers = {
            name[5:].replace("_", "-").lower(): value
            for name, value in environ.items()
            if name.startswith("HTTP_")
        }
        for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(name):
                headers[name.replace("_", "-").lower()] = environ[name]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else None
        status, response_headers, content = self.target.run(
            self.exchange, environ["REQUEST_METHOD"], request_uri(environ), headers, body
        )
        start_response(f"{status} {_reason(status)}", response_headers)
        return [content]

    async def exchange(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send one Schemathesis request; an endless event stream is read up to `MAX_STREAM_EVENTS`."""
        outgoing = self.target.outgoing
        request = outgoing.build(method, url, headers=headers, content=body)
        case_id = headers.get(SCHEMATHESIS_TEST_CASE_HEADER.lower())
        if case_id:
            if len(self.journal) >= JOURNAL_SIZE:
                self.journal.pop(next(iter(self.journal)))
            self.journal[case_id] = curl_for(request)
        response = await outgoing.send(request, stream=True)
        try:
            content = bytearray()
            events = 0
            is_stream = response.headers.get("content-type", "").startswith("text/event-stream")
            with server_faults(request, outgoing.timeout):
                async for chunk in response.aiter_raw():
                    content += chunk
                    events += chunk.count(b"\n\n")
                    if is_stream and events >= MAX_STREAM_EVENTS:
                        break
        finally:
            await response.aclose()
        return response.status_code, list(response.headers.multi_items()), bytes(content)
