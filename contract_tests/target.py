"""The implementation under test: the mock in-process (default) or any server at a base URL.

A `Target` owns one event loop on a thread of its own. Every request of the suite, whether from a
Hypothesis property (async, via `run`) or from Schemathesis (sync `requests`, via `requests_session`),
is made on that loop, so a generation started by one request keeps running for the next, exactly as
on a server. In-process, the app is called through `StreamingASGITransport`: no socket, no port, and
streams arrive chunk by chunk.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, TypeVar
from wsgiref.util import request_uri

import httpx
import requests
import requests.adapters
import urllib3
from anyio.from_thread import BlockingPortal, start_blocking_portal

from contract_tests.asgi import StreamingASGITransport
from contract_tests.client import RecoupClient
from contract_tests.conformance import SpecConformance

T = TypeVar("T")

ENV_BASE_URL = "RECOUP_CONTRACT_BASE_URL"
ENV_API_KEY = "RECOUP_CONTRACT_API_KEY"
ENV_OTHER_API_KEY = "RECOUP_CONTRACT_OTHER_API_KEY"

# In-process requests carry the address `recoup-mock serve` listens on by default, and the mock is
# seeded with the demo keys, so a reported curl line also runs against a local `recoup-mock serve`.
IN_PROCESS_BASE_URL = "http://127.0.0.1:4010"
IN_PROCESS_API_KEY = "demo-key-a"
IN_PROCESS_OTHER_API_KEY = "demo-key-b"
IN_PROCESS_SEED: dict[str, Any] = {
    "accounts": [
        {"id": "artist-a", "api_keys": [IN_PROCESS_API_KEY]},
        {"id": "artist-b", "api_keys": [IN_PROCESS_OTHER_API_KEY]},
    ]
}


class TargetError(RuntimeError):
    """The target cannot be checked at all (unreachable, keys missing, no spec)."""


@dataclass(frozen=True)
class TargetOptions:
    base_url: str | None = None
    """None checks the mock in-process."""
    api_key: str | None = None
    other_api_key: str | None = None
    generation: bool = True
    """False skips (and reports) every property that needs a running generation."""
    mutant: str | None = None
    """In-process only: check a deliberately broken mock (see `contract_tests.mutants`)."""
    timeout: float = 30.0

    @classmethod
    def from_env(cls, **overrides: Any) -> TargetOptions:
        values: dict[str, Any] = {
            "base_url": os.environ.get(ENV_BASE_URL) or None,
            "api_key": os.environ.get(ENV_API_KEY) or None,
            "other_api_key": os.environ.get(ENV_OTHER_API_KEY) or None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def in_process(self) -> bool:
        return self.base_url is None

    @property
    def key_a(self) -> str:
        key = self.api_key or (IN_PROCESS_API_KEY if self.in_process else None)
        if not key:
            raise TargetError(f"--api-key (or {ENV_API_KEY}) is required with --base-url")
        return key

    @property
    def key_b(self) -> str:
        key = self.other_api_key or (IN_PROCESS_OTHER_API_KEY if self.in_process else None)
        if not key:
            raise TargetError(f"--other-api-key (or {ENV_OTHER_API_KEY}) is required with --base-url")
        if key == self.key_a:
            raise TargetError("--api-key and --other-api-key must belong to two different accounts")
        return key

    @property
    def url(self) -> str:
        return (self.base_url or IN_PROCESS_BASE_URL).rstrip("/")

    def describe(self) -> str:
        if self.in_process:
            suffix = f" (mutant {self.mutant})" if self.mutant else ""
            return f"the mock in-process{suffix}"
        return self.url


@dataclass
class Target:
    """A live connection to the implementation under test; `open()` before use, `close()` after."""

    options: TargetOptions
    document: dict[str, Any] = field(default_factory=dict)
    spec_source: str = ""
    _stack: ExitStack = field(default_factory=ExitStack)
    _portal: BlockingPortal | None = None
    _app: Any = None
    _runtime: Any = None
    _http: httpx.AsyncClient | None = None
    counts: Counter[str] = field(default_factory=Counter)
    """How much was checked: Schemathesis cases, property examples and requests sent."""

    def open(self) -> Target:
        try:
            return self._open()
        except BaseException:
            # The loop's thread must not outlive a failed start, or the process never exits.
            self.close()
            raise

    def _open(self) -> Target:
        options = self.options
        options.key_a, options.key_b  # noqa: B018 - fail early on missing keys
        self._portal = self._stack.enter_context(start_blocking_portal())
        if options.in_process:
            self._app, self._runtime = self.run(self._build_app)
            self._stack.callback(self.run, self._runtime.close)
            transport: httpx.AsyncBaseTransport = StreamingASGITransport(self._app)
        else:
            transport = httpx.AsyncHTTPTransport(retries=1)
        self._http = httpx.AsyncClient(
            transport=transport,
            base_url=options.url,
            timeout=options.timeout,
            follow_redirects=False,
            event_hooks={"request": [self._count_request]},
        )
        self._stack.callback(self.run, self._http.aclose)
        self.document, self.spec_source = self.run(self._load_document)
        self.conformance = SpecConformance(self.document)
        return self

    def close(self) -> None:
        self._stack.close()

    async def _count_request(self, _request: httpx.Request) -> None:
        self.counts["requests"] += 1

    async def _build_app(self) -> tuple[Any, Any]:
        # Built on the target's loop, so every asyncio object of the runtime belongs to it.
        from contract_tests.mutants import build_app

        app, runtime = build_app(self.options.mutant, IN_PROCESS_SEED)
        await runtime.start()
        return app, runtime

    async def _load_document(self) -> tuple[dict[str, Any], str]:
        """The target's own `/openapi.json`, or the bundled contract when it serves none."""
        from mock_server.http.spec import load_document

        assert self._http is not None
        try:
            response = await self._http.get("/openapi.json")
            document = response.json() if response.status_code == 200 else None
        except httpx.TransportError as exc:
            raise TargetError(f"cannot reach {self.options.url}: {exc}") from exc
        except ValueError:
            document = None
        if isinstance(document, dict) and "/api/chat/{chatId}/stop" in document.get("paths", {}):
            return document, f"/openapi.json of {self.options.describe()}"
        return load_document(), "the bundled contract (openapi/recoup-chat.yaml)"

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run `fn(*args)` on the target's loop and return its result."""
        assert self._portal is not None, "Target.open() first"
        return self._portal.call(fn, *args)

    def client(self, who: str = "a") -> RecoupClient:
        """A client acting as account `a`, account `b`, or `anonymous` (no credentials)."""
        assert self._http is not None
        key = {"a": self.options.key_a, "b": self.options.key_b, "anonymous": None}[who]
        return RecoupClient(self._http, key, self.conformance)

    def wsgi_app(self) -> _WSGIBridge | None:
        """For an in-process target, the app Schemathesis should call (None over HTTP)."""
        return _WSGIBridge(_PortalAdapter(self)) if self.options.in_process else None

    def requests_session(self) -> requests.Session:
        """A `requests` session for Schemathesis that reaches the target the way the suite does."""
        session = requests.Session()
        if not self.options.in_process:
            session.hooks["response"].append(
                lambda response, *args, **kwargs: self.counts.update(["requests"])
            )
        if self.options.in_process:
            adapter = _PortalAdapter(self)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        return session


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class _WSGIBridge:
    """The in-process target as a WSGI app, for Schemathesis.

    Schemathesis sends its own probes (the `ignored_auth` check re-sends a request without and with
    wrong credentials) without the session it was given, so a `requests` session cannot keep them
    in-process; a schema whose `app` is this bridge sends every request, probes included, through
    the suite's own loop.
    """

    def __init__(self, adapter: _PortalAdapter) -> None:
        self.adapter = adapter

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
        status, response_headers, content = self.adapter.target.run(
            self.adapter._exchange, environ["REQUEST_METHOD"], request_uri(environ), headers, body
        )
        start_response(f"{status} {_reason(status)}", response_headers)
        return [content]


# Event streams may never end; like Schemathesis's own clients, read this many events at most.
MAX_STREAM_EVENTS = 20


class _PortalAdapter(requests.adapters.HTTPAdapter):
    """Sends `requests` calls through the target's httpx client on the target's loop."""

    def __init__(self, target: Target) -> None:
        super().__init__()
        self.target = target

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        body = request.body.encode() if isinstance(request.body, str) else request.body
        status, headers, content = self.target.run(
            self._exchange, request.method or "GET", request.url or "", dict(request.headers), body
        )
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(content),
            headers=urllib3.HTTPHeaderDict(headers),
            status=status,
            version=11,
            preload_content=False,
            decode_content=False,
            request_method=request.method,
        )
        return self.build_response(request, raw)

    async def _exchange(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        assert self.target._http is not None
        http_request = self.target._http.build_request(method, url, headers=headers, content=body)
        response = await self.target._http.send(http_request, stream=True)
        try:
            content = bytearray()
            events = 0
            is_stream = response.headers.get("content-type", "").startswith("text/event-stream")
            async for chunk in response.aiter_raw():
                content += chunk
                events += chunk.count(b"\n\n")
                if is_stream and events >= MAX_STREAM_EVENTS:
                    break
        finally:
            await response.aclose()
        return response.status_code, list(response.headers.multi_items()), bytes(content)
