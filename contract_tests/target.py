"""The implementation under test: the mock in-process (default) or any server at a base URL.

A `Target` owns one event loop on a thread of its own and one `Outgoing` (the only way a request
leaves the suite). Every request, whether from a Hypothesis rule (async, via `run`) or from
Schemathesis (through `contract_tests.bridge`, probes included), is made on that loop, so a generation
started by one request keeps running for the next, exactly as on a server. In-process, the app is
called through `StreamingASGITransport`: no socket, no port, and streams arrive chunk by chunk.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

from contract_tests.asgi import StreamingASGITransport
from contract_tests.client import RecoupClient, stop_path
from contract_tests.conformance import SpecConformance
from contract_tests.documents import STOP_PATH, published_document
from contract_tests.options import DEFAULT_TIMEOUT
from contract_tests.outgoing import Outgoing, header_problem
from contract_tests.violations import SuiteDefect, ViolationError

T = TypeVar("T")

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


KEEPALIVE_EXPIRY = 1.0
"""Seconds an idle connection is kept for the next request. Servers close idle connections after a
keep-alive timeout of their own (uvicorn's and Node's: 5 s); httpx's default of the same 5 s would
send a request on a connection at the moment the server closes it, and the request would fail with
a reset that is no fault of the server."""


class TargetError(RuntimeError):
    """The target cannot be checked at all (unreachable, keys missing, an unknown mutant)."""


@dataclass(frozen=True)
class TargetOptions:
    base_url: str | None = None
    """None checks the mock in-process."""
    api_key: str | None = None
    other_api_key: str | None = None
    contract: str = "served"
    """'served' (the full served document) or 'published' (the published stop document alone)."""
    chat: str | None = None
    """An idle chat of account A, so stop rules need no lifecycle to find one."""
    other_chat: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    generation: bool = True
    """False skips (and reports) every rule that needs a running generation."""
    mutant: str | None = None
    """In-process only: check a deliberately broken mock (see `contract_tests.mutants`)."""

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

    def validate(self) -> None:
        """Raise `TargetError` for options that cannot work together."""
        for flag, key in (("--api-key", self.key_a), ("--other-api-key", self.key_b)):
            problem = header_problem("x-api-key", key)
            if problem is not None:
                raise TargetError(f"{flag} cannot be sent in a header: {problem}")
        if self.mutant and not self.in_process:
            raise TargetError("--mutant checks the in-process mock; it cannot be combined with --base-url")
        if bool(self.chat) != bool(self.other_chat):
            raise TargetError("--chat and --other-chat go together: a chat of account A and one of B")
        if self.chat and self.chat == self.other_chat:
            raise TargetError("--chat and --other-chat must be chats of two different accounts")
        if self.base_url is not None:
            try:
                url = httpx.URL(self.base_url)
            except httpx.InvalidURL as exc:
                raise TargetError(f"--base-url {self.base_url!r} is not a URL: {exc}") from None
            if url.scheme not in ("http", "https") or not url.host:
                raise TargetError(f"--base-url {self.base_url!r} is not an http:// or https:// URL")

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
    round_trip: float = 0.0
    """Seconds of the fastest of a few cheap requests: what the network adds to any answer."""
    counts: Counter[str] = field(default_factory=Counter)
    """How much was checked: Schemathesis cases, rule examples and requests sent."""
    _stack: ExitStack = field(default_factory=ExitStack)
    _portal: BlockingPortal | None = None
    _outgoing: Outgoing | None = None
    _creation: tuple[str | None] | None = None
    """The chat-creation probe's answer, once tried."""

    def open(self) -> Target:
        try:
            return self._open()
        except BaseException:
            # The loop's thread must not outlive a failed start, or the process never exits.
            self.close()
            raise

    def _open(self) -> Target:
        options = self.options
        options.validate()
        self._portal = self._stack.enter_context(start_blocking_portal())
        if options.in_process:
            app, runtime = self.run(self._build_app)
            self._stack.callback(self.run, runtime.close)
            transport: httpx.AsyncBaseTransport = StreamingASGITransport(app)
        else:
            transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY))
        http = httpx.AsyncClient(
            transport=transport,
            base_url=options.url,
            timeout=options.timeout,
            follow_redirects=False,
            event_hooks={"request": [self._count_request]},
        )
        self._outgoing = Outgoing(http, options.timeout)
        self._stack.callback(self.run, http.aclose)
        self.document, self.spec_source = self.run(self._load_document)
        self.conformance = SpecConformance(self.document)
        self.run(self._check_identities)
        return self

    async def _check_identities(self) -> None:
        """Refuse to start (exit 2) when a key or a given chat is wrong: every rule would then
        blame the server for the user's set-up."""
        unknown = str(uuid.uuid4())
        for flag, key in (("--api-key", self.options.key_a), ("--other-api-key", self.options.key_b)):
            response = await self._stop(unknown, key)
            if response.status_code == 401:
                raise TargetError(f"{flag} is refused by the target (401 {response.text[:200]})")
        given = (
            ("--chat", self.options.chat, self.options.key_a, "A"),
            ("--other-chat", self.options.other_chat, self.options.key_b, "B"),
        )
        for flag, chat, key, account in given:
            if chat is None:
                continue
            response = await self._stop(chat, key)
            if response.status_code != 200:
                raise TargetError(
                    f"{flag} {chat}: account {account}'s stop of it answered {response.status_code} "
                    f"({response.text[:200]}); give a chat of account {account} (or the target "
                    "refuses an owner's stop)"
                )

    async def _stop(self, chat_id: str, key: str) -> httpx.Response:
        try:
            return await self.outgoing.request("POST", stop_path(chat_id), headers={"x-api-key": key})
        except (ViolationError, SuiteDefect) as exc:
            raise TargetError(f"cannot check the keys on {self.options.url}: {exc}") from exc

    def close(self) -> None:
        self._stack.close()

    @property
    def outgoing(self) -> Outgoing:
        assert self._outgoing is not None, "Target.open() first"
        return self._outgoing

    async def _count_request(self, _request: httpx.Request) -> None:
        self.counts["requests"] += 1

    async def _build_app(self) -> tuple[Any, Any]:
        # Built on the target's loop, so every asyncio object of the runtime belongs to it.
        from contract_tests.mutants import build_app

        try:
            app, runtime = build_app(self.options.mutant, IN_PROCESS_SEED)
        except LookupError as exc:
            raise TargetError(str(exc)) from None
        await runtime.start()
        return app, runtime

    async def _load_document(self) -> tuple[dict[str, Any], str]:
        """The contract to judge against; the round trip is measured on the way."""
        served: Any = None
        timings = []
        for _ in range(3):
            started = time.monotonic()
            try:
                response = await self.outgoing.request("GET", "/openapi.json")
                served = response.json() if response.status_code == 200 else None
            except (ViolationError, SuiteDefect) as exc:
                raise TargetError(f"cannot reach {self.options.url}: {exc}") from exc
            except ValueError:
                served = None
            timings.append(time.monotonic() - started)
        self.round_trip = min(timings)
        if self.options.contract == "published":
            return published_document(), "the published stop document (openapi/upstream/stop-chat.yaml) + 401"
        if isinstance(served, dict) and STOP_PATH in served.get("paths", {}):
            return served, f"/openapi.json of {self.options.describe()}"
        from mock_server.http.spec import load_document

        return load_document(), "the bundled contract (openapi/recoup-chat.yaml)"

    def chat_creation_problem(self) -> str | None:
        """Why the target cannot make chats for the rules (None when it can): the contract has no
        `POST /api/sessions`, or the target refuses it. Tried once, and only when chats were given
        (`--chat`): without them a refusal is each rule's own set-up failure."""
        if not self.has_operation("post", "/api/sessions"):
            return "the contract judged has no POST /api/sessions"
        if not (self.options.chat and self.options.other_chat):
            return None
        if self._creation is None:
            self._creation = (self.run(self._try_creating_a_chat),)
        return self._creation[0]

    async def _try_creating_a_chat(self) -> str | None:
        try:
            response = await self.outgoing.request(
                "POST", "/api/sessions", headers={"x-api-key": self.options.key_a}, json={"title": "contract"}
            )
        except ViolationError as exc:
            return f"POST /api/sessions failed: {exc}"
        if response.status_code != 200:
            return f"POST /api/sessions answered {response.status_code}, not a new chat"
        return None

    def has_operation(self, method: str, path: str) -> bool:
        return method.lower() in self.document.get("paths", {}).get(path, {})

    @property
    def accepts_bearer(self) -> bool:
        schemes = self.document.get("components", {}).get("securitySchemes", {}).values()
        return any(s.get("type") == "http" and s.get("scheme", "").lower() == "bearer" for s in schemes)

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run `fn(*args)` on the target's loop and return its result."""
        assert self._portal is not None, "Target.open() first"
        return self._portal.call(fn, *args)

    def client(self, who: str = "a") -> RecoupClient:
        """A client acting as account `a`, account `b`, or `anonymous` (no credentials)."""
        key = {"a": self.options.key_a, "b": self.options.key_b, "anonymous": None}[who]
        return RecoupClient(self.outgoing, key, self.conformance)
