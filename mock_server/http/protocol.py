"""The HTTP/1.1 protocol the server speaks: uvicorn's httptools protocol, hardened against slow and
broken clients.

`HardenedHttpToolsProtocol` adds three things, all per connection and off the per-request path
unless a request arrives in pieces:

- a request's headers must be complete `header_timeout` seconds after the connection (or its
  keep-alive wait) began, and its body may not pause longer than `body_timeout` between two pieces:
  otherwise 408, then the connection is closed (a connection that never sent a byte is just closed);
- the request line and headers may hold at most `max_header_bytes`: otherwise 431, then closed;
- every error the server produces itself (a request it cannot parse, an unknown method, a bad
  header or chunk size) is the contract's body, `{"status": "error", "error": "..."}` as
  `application/json` with `Connection: close`, instead of uvicorn's plain text.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from mock_server.config import Config
from mock_server.http.coalescing import CoalescingTransport
from mock_server.http.error_body import error_json

logger = logging.getLogger("uvicorn.error")

LINGER_SECONDS = 2.0
"""How long a connection that was answered an error still reads (and drops) what the client sends."""


@dataclass(frozen=True)
class Limits:
    header_timeout: float = 10.0
    """Seconds from the start of a connection or of its keep-alive wait until a request's headers
    are complete; 0: no limit."""
    body_timeout: float = 10.0
    """Longest pause, in seconds, between two pieces of a request's body; 0: no limit."""
    max_header_bytes: int = 16 * 1024
    """Largest request line and headers, in bytes (h11's default bound)."""

    @classmethod
    def of(cls, config: Config) -> Limits:
        return cls(config.header_timeout, config.body_timeout, config.max_header_bytes)


def error_response(status: int, message: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """A whole HTTP/1.1 response with the contract's error body, closing the connection."""
    body = error_json(message)
    head = [STATUS_LINE[status]]
    for name, value in default_headers:
        head += [name, b": ", value, b"\r\n"]
    head.append(
        b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body)
    )
    return b"".join([*head, body])


class HeadTooLarge(Exception):
    """Raised from a parser callback when the request line and headers pass `max_header_bytes`."""


_METHOD = re.compile(rb"[\r\n]*([!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}) ")
"""A request line's method: a token, then a space (RFC 9110's `method = token`)."""

_PARSED_METHODS = frozenset(
    b"DELETE GET HEAD POST PUT CONNECT OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND PROPPATCH SEARCH "
    b"UNLOCK BIND REBIND UNBIND ACL REPORT MKACTIVITY CHECKOUT MERGE M-SEARCH NOTIFY SUBSCRIBE "
    b"UNSUBSCRIBE PATCH PURGE MKCALENDAR LINK UNLINK SOURCE QUERY".split()
)
"""The methods httptools (llhttp) parses: one of these at the start of the data that failed was an
earlier request's in the same read, so the failing method is not known."""

_REQUEST_LINE_FAULTS = ("method", "url", "version", "expected http/", "expected crlf", "expected dot")
_HEADER_FAULTS = ("header", "content-length", "transfer-encoding", "after start line", "expected lf")


def refusal(error: httptools.HttpParserError, data: bytes, max_header_bytes: int) -> tuple[int, str]:
    """The status and message for a request httptools could not parse (`data`: what it was fed).

    Every refusal here is a 4xx, an unknown method and an HTTP version other than 1.x included
    (RFC 9110 suggests 501 and 505): the mock is fuzzed, and fuzzers, Schemathesis among them, take
    any 5xx for a server that broke. 405 is the app's, with `Allow`, for methods the parser knows.
    """
    reason = str(error) or "unparsable request"
    if isinstance(error, httptools.HttpParserCallbackError):
        if isinstance(error.__context__, HeadTooLarge):
            return 431, f"The request line and headers are larger than {max_header_bytes:,} bytes"
        return 400, f"Invalid HTTP request: {reason}"
    if isinstance(error, httptools.HttpParserInvalidMethodError):
        method = _METHOD.match(data)
        if method and reason == "Invalid method encountered" and method.group(1) not in _PARSED_METHODS:
            return 400, f"Unknown method {method.group(1).decode('ascii')}"
        return 400, f"Malformed request line: {reason}"
    if isinstance(error, httptools.HttpParserInvalidURLError):
        return 400, f"Invalid request target: {reason}"
    lowered = reason.lower()
    if reason in ("Invalid HTTP version", "Invalid major version") or "pri/upgrade" in lowered:
        return 400, "Only HTTP/1.0 and HTTP/1.1 are served"
    if "chunk" in lowered:
        return 400, f"Invalid chunked body: {reason}"
    if any(fault in lowered for fault in _HEADER_FAULTS):
        return 400, f"Invalid header: {reason}"
    if any(fault in lowered for fault in _REQUEST_LINE_FAULTS):
        return 400, f"Malformed request line: {reason}"
    return 400, f"Invalid HTTP request: {reason}"


class HardenedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and body timeouts, a bound on the request head, and
    the contract's error body for every error it answers itself (see the module's docstring).

    Per request it only flips a flag and counts header bytes; timers exist while a connection waits
    for its first request's headers, and while a request's head or body arrives in pieces.
    """

    limits: ClassVar[Limits] = Limits()

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._in_head = True
        """Waiting for (the rest of) a request's line and headers, rather than for its body."""
        self._head_bytes = 0
        """Bytes received of the current request's head while it is incomplete."""
        self._head_size = 0
        """Size of the current request's target and headers, counted as the parser reports them."""
        self._max_head = self.limits.max_header_bytes
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_seen = 0.0
        self._refused = False
        """An error was answered: what the client still sends is dropped until the connection closes."""
        self._linger_timer: asyncio.TimerHandle | None = None

    # Connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(cast(asyncio.Transport, CoalescingTransport(transport, self.loop)))
        if self.limits.header_timeout:
            self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def eof_received(self) -> None:
        # The socket transport closes itself once this returns (uvicorn keeps no half-open
        # connection): the answer of the turn the client's EOF came in goes out first.
        flush = getattr(self.transport, "flush", None)
        if flush is not None:
            flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timers()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        if self._refused:
            self.transport.close()
        else:
            super().shutdown()

    def _stop_timers(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        keep_alive = self.timeout_keep_alive_task
        self._unset_keepalive_if_required()
        if self._in_head:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self._stop_timers()
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as error:
            status, message = refusal(error, data, self.limits.max_header_bytes)
            self.logger.warning("%s: %d %s", self._who(), status, message)
            self.refuse(status, message)
            return
        if self._in_head:
            if self._head_bytes:  # part of a request's head arrived; the rest has not
                if self._head_bytes > self._max_head:
                    self.refuse(431, self._too_large())
                elif self._head_timer is None and self.limits.header_timeout:
                    # Measured from the start of the keep-alive wait this request ended, if any.
                    started = keep_alive.when() - self.timeout_keep_alive if keep_alive else self.loop.time()
                    self._head_timer = self.loop.call_at(
                        started + self.limits.header_timeout, self._head_timed_out
                    )
        elif self.limits.body_timeout:  # the request's body goes on
            self._body_seen = self.loop.time()
            if self._body_timer is None:
                self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_timed_out)

    # Parser callbacks

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        if self._head_size > self._max_head:
            raise HeadTooLarge()
        HttpToolsProtocol.on_url(self, url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4  # ": " and CRLF
        if self._head_size > self._max_head:
            raise HeadTooLarge()
        HttpToolsProtocol.on_header(self, name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        HttpToolsProtocol.on_headers_complete(self)

    def on_message_complete(self) -> None:
        self._in_head = True
        self._head_bytes = self._head_size = 0
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        HttpToolsProtocol.on_message_complete(self)

    # Timeouts and refusals

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._in_head or self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # A pipelined request's head: its time runs from the end of the answer before it.
            self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)
        elif not self._head_bytes:
            self.transport.close()  # a connection that never sent a request
        else:
            message = f"The request's headers did not arrive within {self.limits.header_timeout:g} s"
            self.logger.info("%s: 408 %s", self._who(), message)
            self.refuse(408, message)

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self._in_head or self.transport.is_closing():
            return
        now = self.loop.time()
        if self.flow.read_paused:  # the server holds the body back (the app has not read it yet)
            self._body_seen = now
        wait = self._body_seen + self.limits.body_timeout - now
        if wait > 0:
            self._body_timer = self.loop.call_later(wait, self._body_timed_out)
            return
        message = f"The request's body stalled: nothing arrived for {self.limits.body_timeout:g} s"
        self.logger.info("%s: 408 %s", self._who(), message)
        self.refuse(408, message)

    def refuse(self, status: int, message: str) -> None:
        """Answer `status` with the contract's error body if the request at fault can still be
        answered, then close.

        The request being handled (if any) sees the client gone, so the app's own late answer is
        dropped. When the faulty request's answer has begun or been sent (a body that stalls after
        its answer), or an earlier pipelined request's answer is still due, the connection is
        closed without one: HTTP/1.1 answers each request once, in order.
        """
        self._stop_timers()
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        cycle = self.cycle
        answer = self._answerable()
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.message_event.set()
        if not answer or not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write(error_response(status, message, self.server_state.default_headers))
        # A lingering close: send the answer and a FIN, then read and drop what the client still
        # sends (the rest of a huge header, say) until it closes, for at most LINGER seconds.
        # Closing at once with unread data would reset the connection, and the reset can destroy
        # the answer before the client reads it.
        self.transport.write_eof()
        self.flow.resume_reading()
        self._linger_timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _answerable(self) -> bool:
        if self.pipeline:  # an earlier request's answer is still due
            return False
        if self._in_head:  # `cycle` is the request before the faulty one
            return self.cycle is None or self.cycle.response_complete
        # `cycle` is the request whose body is at fault, or, when the request was refused as its
        # head completed (an unreadable target), none yet or the answered one before it.
        return self.cycle is None or self.cycle.response_complete or not self.cycle.response_started

    def send_400_response(self, msg: str) -> None:
        """uvicorn's plain-text 400, as the contract's body (nothing in this class calls it)."""
        self.refuse(400, msg)

    def _too_large(self) -> str:
        return f"The request line and headers are larger than {self.limits.max_header_bytes:,} bytes"

    def _who(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "client"


def protocol_for(limits: Limits) -> type[HardenedHttpToolsProtocol]:
    """The protocol class uvicorn instantiates per connection (`uvicorn.Config(http=...)`)."""
    return type("HardenedHttpToolsProtocol", (HardenedHttpToolsProtocol,), {"limits": limits})
