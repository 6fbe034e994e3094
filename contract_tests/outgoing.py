"""The one place every request of the suite is built and sent, and where failures are told apart.

Hypothesis rules, Schemathesis cases (and its own probes) and the suite's set-up all go through
`Outgoing`. Before anything is sent, a request is checked to be legal HTTP/1.1 as generated (h11's
own rules, which the strictest client the suite uses enforces): one that is not is a `SuiteDefect`,
the suite's fault. Once a request has left, a reset, a dropped connection, a timeout or a malformed
answer is the server's fault: a `ViolationError` naming what happened, with the request as curl.
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Iterator, Mapping
from typing import Any

import h11
import httpx

from contract_tests.violations import SuiteDefect, Violation, ViolationError

# Headers a client adds by itself, and Schemathesis's case id: a curl line leaves them out.
_IMPLICIT_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "accept-encoding",
        "connection",
        "user-agent",
        "accept",
        "x-schemathesis-testcaseid",
    }
)


def header_problem(name: str, value: str) -> str | None:
    """Why this header cannot be sent as it is (e.g. trailing whitespace, a control character), or None."""
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return f"header {name!r}: value {value!r} is not Latin-1"
    try:
        # h11 validates names and values exactly as an HTTP/1.1 connection will send them.
        host = [] if name.lower() == "host" else [("Host", "target")]
        h11.Request(method="GET", target="/", headers=[*host, (name, value)])
    except h11.LocalProtocolError as exc:
        # Surrounding whitespace is refused here too: a server would strip it on receipt, so the
        # value would never arrive as generated.
        return f"header {name!r}: value {value!r}: {exc}"
    return None


def sendable(headers: Mapping[str, str] | None) -> bool:
    """Whether every header can be sent exactly as given (Schemathesis cases are filtered with this)."""
    return all(header_problem(name, value) is None for name, value in (headers or {}).items())


def curl_for(request: httpx.Request) -> str:
    """A curl command line that sends `request` again."""
    parts = ["curl", "-sS", "-X", request.method]
    for name, value in request.headers.items():
        if name.lower() not in _IMPLICIT_HEADERS:
            parts += ["-H", f"{name}: {value}"]
    if request.content:
        parts += ["--data-raw", request.content.decode(errors="replace")]
    parts.append(str(request.url))
    return shlex.join(parts)


def _server_fault(exc: httpx.TransportError, timeout: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g} s (raise --timeout for a slow target)"
    if isinstance(exc, httpx.ConnectError):
        return f"the server cannot be reached: {exc or 'connection refused'}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server broke HTTP: {exc or 'a malformed or missing answer'}"
    return (
        f"the server reset or dropped the connection ({type(exc).__name__}{f': {exc}' if str(exc) else ''})"
    )


@contextlib.contextmanager
def server_faults(request: httpx.Request, timeout: float) -> Iterator[None]:
    """Turn transport failures of `request` (sending it or reading its answer) into typed outcomes."""
    try:
        yield
    except (httpx.LocalProtocolError, httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise SuiteDefect(f"{request.method} {request.url}", f"{type(exc).__name__}: {exc}") from exc
    except httpx.TransportError as exc:
        timed_out = isinstance(exc, httpx.TimeoutException)
        violation = Violation(_server_fault(exc, timeout), curl_for(request), timed_out=timed_out)
        raise ViolationError(violation) from exc


class Outgoing:
    """Builds, checks and sends every request of a run over one httpx client."""

    def __init__(self, http: httpx.AsyncClient, timeout: float) -> None:
        self.http = http
        self.timeout = timeout

    def build(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        json: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Request:
        label = f"{method} {url}"
        for name, value in (headers or {}).items():
            problem = header_problem(name, value)
            if problem is not None:
                raise SuiteDefect(label, problem)
        try:
            return self.http.build_request(
                method, url, headers=dict(headers or {}), content=content, json=json, params=params
            )
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, UnicodeError, ValueError, TypeError) as exc:
            raise SuiteDefect(label, f"{type(exc).__name__}: {exc}") from exc

    async def send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        """Send `request`; a read answer unless `stream` (then the caller reads and closes it)."""
        with server_faults(request, self.timeout):
            return await self.http.send(request, stream=stream)

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return await self.send(self.build(method, url, **kwargs))
