"""`recoup-mock proxy`'s ASGI app: every request forwarded to the upstream, both directions judged
against the contract as they pass (`contract_judge`), what was found kept in `Findings`.

An answer that is not a stream is read whole, judged, and given Prism's `sl-violations` header;
an event stream is passed on piece by piece as the upstream sends it and judged event by event, its
problems kept in the journal (its headers are gone by then). With `errors` on, a request that
breaks the contract is refused before it reaches the upstream (422, or 401 for credentials, in the
contract's error body) and an invalid answer that is not a stream is replaced by a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.types import Receive, Scope, Send

from contract_judge import Judge, Problem, Request, Response, StreamJudge
from mock_server.proxy import messages
from mock_server.proxy.findings import Exchange, Findings
from mock_server.proxy.forwarding import Decoder, end_to_end
from mock_server.proxy.recording import Recorder, Reply

log = logging.getLogger("recoup_mock.proxy")

OWN_PATHS = frozenset({"/__mock/violations", "/__mock/journal"})
"""The proxy's own answers; any other path, an upstream mock's admin API included, is forwarded."""
UNJUDGED_PREFIX = "/__mock/"
"""Paths forwarded without judging: a mock's admin API is no part of the contract."""


@dataclass(frozen=True)
class ProxySettings:
    upstream: str
    errors: bool = False
    max_body_bytes: int = 4 * 1024 * 1024
    upstream_timeout: float = 300.0
    journal_size: int = 1000
    report: Path | None = None
    record: Path | None = None


class ProxyApp:
    def __init__(self, settings: ProxySettings, document: dict[str, Any]) -> None:
        self.settings = settings
        self.judge = Judge(document)
        self.findings = Findings(settings.journal_size)
        self.recorder = Recorder(settings.record) if settings.record is not None else None
        self._client: httpx.AsyncClient | None = None
        base = urlsplit(settings.upstream)
        self._base = f"{base.scheme}://{base.netloc}{base.path.rstrip('/')}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def start(self) -> None:
        """Open the client the upstream is reached with."""
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.upstream_timeout, connect=10.0), follow_redirects=False
        )
        self._client.headers = httpx.Headers()  # no header of httpx's own: the client's alone

    async def close(self) -> None:
        """Say what was found, write the report, and let the upstream's connections go."""
        summary = self.findings.summary()
        log.info(
            "proxy of %s: %d exchanges, %d violations",
            self.settings.upstream,
            summary["exchanges"],
            summary["errors"],
        )
        if self.settings.report is not None:
            self.findings.write_report(self.settings.report, self.settings.upstream)
        if self.recorder is not None:
            seed = self.recorder.write()
            log.info("recorded %d chats into %s", self.recorder.chats, self.recorder.path)
            for account in seed["accounts"]:
                log.info("  account %s: key %s", account["id"], account["api_keys"][0])
        if self._client is not None:
            await self._client.aclose()

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("raw_path", scope["path"].encode()).decode("latin-1").split("?")[0]
        if path in OWN_PATHS:
            await messages.answer(send, self._admin(scope["method"], path))
            return
        body = await messages.read_body(receive, self.settings.max_body_bytes)
        if body is None:
            await messages.answer(
                send,
                messages.error(413, f"The request body is larger than {self.settings.max_body_bytes} bytes"),
            )
            return
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        query = scope.get("query_string", b"").decode("latin-1")
        request = Request(scope["method"], path, messages.query_items(query), tuple(headers), body)
        operation = self.judge.operation(request.method, path)
        template = self._template(operation)
        exchange = self.findings.begin(request.method, path, template, headers)
        try:
            await self._exchange(request, query, operation, exchange, receive, send)
        finally:
            self.findings.end(exchange)

    def _template(self, operation: dict[str, Any] | None) -> str | None:
        for template, item in self.judge.document.get("paths", {}).items():
            if operation is not None and operation in item.values():
                return str(template)
        return None

    async def _exchange(
        self,
        request: Request,
        query: str,
        operation: dict[str, Any] | None,
        exchange: Exchange,
        receive: Receive,
        send: Send,
    ) -> None:
        preflight = request.method == "OPTIONS" and request.header("access-control-request-method")
        unjudged = preflight or request.path.startswith(UNJUDGED_PREFIX)
        judged = operation is not None and not unjudged
        if judged:
            problems = self._judged(exchange, self.judge.request, request)
        elif unjudged:
            problems = []
        else:
            problems = [Problem(("request",), "operation", "the contract has no such operation", "Warning")]
        self.findings.add(exchange, problems)
        if self.settings.errors and any(p.severity == "Error" for p in problems):
            status = 401 if problems[0].code == "security" else 422
            refusal = messages.error(
                status,
                f"The request breaks the contract: {problems[0]}",
                [("sl-violations", messages.sl_violations(problems))],
            )
            exchange.status = refusal.status
            await messages.answer(send, refusal)
            return
        assert self._client is not None, "the proxy's lifespan has not started"
        url = self._base + request.path + (f"?{query}" if query else "")
        outgoing = self._client.build_request(
            request.method,
            url,
            headers=end_to_end(request.headers, drop=("host", "content-length")),
            content=request.body,
        )
        try:
            upstream = await self._client.send(outgoing, stream=True)
        except httpx.TimeoutException:
            exchange.status = 504
            await messages.answer(
                send, messages.error(504, f"The upstream {self._base} did not answer in time")
            )
            return
        except httpx.HTTPError as exc:
            exchange.status = 502
            await messages.answer(
                send,
                messages.error(502, f"The upstream {self._base} cannot be reached: {type(exc).__name__}"),
            )
            return
        try:
            exchange.status = upstream.status_code
            head = Response(upstream.status_code, tuple(upstream.headers.multi_items()))
            if head.is_stream and upstream.status_code < 300:
                await self._relay_stream(
                    request, head, upstream, exchange, problems if judged else None, receive, send
                )
            else:
                await self._relay_whole(request, head, upstream, exchange, problems, judged, send)
        finally:
            await upstream.aclose()

    async def _relay_whole(
        self,
        request: Request,
        head: Response,
        upstream: httpx.Response,
        exchange: Exchange,
        problems: list[Problem],
        judged: bool,
        send: Send,
    ) -> None:
        raw = b"".join([part async for part in upstream.aiter_raw()])
        decoder = Decoder(head.header("content-encoding"))
        decoded = decoder.decode(raw)
        found: list[Problem] = []
        if judged and decoded is None:
            found = [
                Problem(
                    ("response", "body"), "content-coding", f"not judged: coded {decoder.coding}", "Warning"
                )
            ]
        elif judged and decoded is not None:
            answer = Response(head.status, head.headers, decoded)
            found = self._judged(exchange, self.judge.answer, request, answer, problems)
            if self.recorder is not None:
                self.recorder.answered(request, head.status, decoded)
        self.findings.add(exchange, found)
        if self.settings.errors and any(p.severity == "Error" for p in found):
            await messages.answer(
                send,
                messages.error(
                    500,
                    f"The upstream's answer breaks the contract: {found[0]}",
                    [("sl-violations", messages.sl_violations(found))],
                ),
            )
            return
        fields = end_to_end(head.headers)
        if problems or found:
            fields.append(("sl-violations", messages.sl_violations(problems + found)))
        await messages.start(send, head.status, fields)
        await send({"type": "http.response.body", "body": raw})

    async def _relay_stream(
        self,
        request: Request,
        head: Response,
        upstream: httpx.Response,
        exchange: Exchange,
        problems: list[Problem] | None,
        receive: Receive,
        send: Send,
    ) -> None:
        exchange.stream = True
        stream = self.judge.stream(request, head) if problems is not None else None
        fields = end_to_end(head.headers)
        if problems:
            fields.append(("sl-violations", messages.sl_violations(problems)))
        await messages.start(send, head.status, fields)
        reply = self.recorder.reply(request) if self.recorder is not None else None
        pump = asyncio.ensure_future(self._pump(upstream, head, stream, reply, exchange, send))
        gone = asyncio.ensure_future(messages.disconnected(receive))
        try:
            await asyncio.wait({pump, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not pump.done():  # the client left: so does the upstream's request, as the client's would
                pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump

    async def _pump(
        self,
        upstream: httpx.Response,
        head: Response,
        stream: StreamJudge | None,
        reply: Reply | None,
        exchange: Exchange,
        send: Send,
    ) -> None:
        decoder = Decoder(head.header("content-encoding"))
        try:
            async for part in upstream.aiter_raw():
                await send({"type": "http.response.body", "body": part, "more_body": True})
                decoded = decoder.decode(part)
                text = decoded.decode("utf-8", "replace") if decoded is not None else ""
                if reply is not None:
                    reply.feed(text)
                if stream is not None and text:
                    self.findings.add(exchange, self._judged(exchange, stream.feed, text))
        except httpx.HTTPError as exc:
            log.warning("the upstream's stream broke off: %s: %s", exchange.label, type(exc).__name__)
            broke = f"the upstream's stream broke off ({type(exc).__name__})"
            self.findings.add(exchange, [Problem(("response", "body"), "stream", broke)])
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        if reply is not None:
            reply.end()
        if stream is not None:
            self.findings.add(exchange, self._judged(exchange, stream.end))
            exchange.events = stream.events

    @staticmethod
    def _judged(exchange: Exchange, judging: Callable[..., list[Problem]], *args: Any) -> list[Problem]:
        """The judge's problems; a fault of the judge is said, never the client's to bear."""
        try:
            return judging(*args)
        except Exception as exc:
            log.exception("judging %s failed", exchange.label)
            message = f"not judged: the judge failed ({type(exc).__name__})"
            return [Problem(("judge",), "judge", message, "Warning")]

    def _admin(self, method: str, path: str) -> Response:
        if method != "GET":
            return messages.error(405, f"{method} is not served on {path}", [("allow", "GET")])
        if path == "/__mock/violations":
            return messages.json_answer(self.findings.summary())
        return messages.json_answer({"exchanges": self.findings.journal()})
