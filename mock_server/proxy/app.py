"""`recoup-mock proxy`'s ASGI app: every request forwarded to the upstream, both directions judged
against the contract as they pass (`contract_judge`), what was found kept in `Findings`.

An answer that is not a stream is read whole, judged, and given Prism's `sl-violations` header;
an event stream is passed on piece by piece as the upstream sends it and judged event by event, its
problems kept in the journal (its headers are gone by then) (`relay`). With `errors` on, a request
that breaks the contract is refused before it reaches the upstream (422, or 401 for credentials,
in the contract's error body) and an invalid answer that is not a stream is replaced by a 500.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.types import Receive, Scope, Send

from contract_judge import Judge, Problem, Request, Response
from mock_server.proxy import messages
from mock_server.proxy.findings import Exchange, Findings
from mock_server.proxy.forwarding import end_to_end, readable_codings
from mock_server.proxy.recording import Recorder
from mock_server.proxy.relay import Relay, StreamBroke, UpstreamBroke, judged

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
    max_violations: int = 10_000
    report: Path | None = None
    record: Path | None = None


class ProxyApp:
    def __init__(self, settings: ProxySettings, document: dict[str, Any]) -> None:
        self.settings = settings
        self.judge = Judge(document)
        self.findings = Findings(settings.journal_size, settings.max_violations)
        self.recorder = Recorder(settings.record) if settings.record is not None else None
        self._client: httpx.AsyncClient | None = None
        base = urlsplit(settings.upstream)
        self._base = f"{base.scheme}://{base.netloc}{base.path.rstrip('/')}"
        self._base_path = base.path.rstrip("/")
        self._templates = {
            id(operation): str(path)
            for path, item in document.get("paths", {}).items()
            for operation in item.values()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await self.start()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def start(self) -> None:
        """Open the client the upstream is reached with: as many connections as clients need."""
        timeout = self.settings.upstream_timeout
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=100),
            follow_redirects=False,
        )
        for name in ("accept", "accept-encoding", "connection", "user-agent"):
            del self._client.headers[name]  # no header of httpx's own: the client's alone

    async def close(self) -> None:
        """Say what was found, write the report and the recording, let the upstream's connections go."""
        summary = self.findings.summary()
        upstream = self.settings.upstream
        log.info(
            "proxy of %s: %d exchanges, %d violations", upstream, summary["exchanges"], summary["errors"]
        )
        try:
            if self.settings.report is not None:
                self.findings.write_report(self.settings.report, upstream)
        except OSError as exc:
            log.error("cannot write the report %s: %s", self.settings.report, exc)
        try:
            if self.recorder is not None:
                seed = self.recorder.write()
                log.info("recorded %d chats into %s", self.recorder.chats, self.recorder.path)
                for account in seed["accounts"]:
                    log.info("  account %s: keys %s", account["id"], ", ".join(account["api_keys"]))
        except OSError as exc:
            log.error("cannot write the recording %s: %s", self.settings.record, exc)
        finally:
            if self._client is not None:
                await self._client.aclose()

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("raw_path", scope["path"].encode()).decode("latin-1").split("?")[0]
        if path in OWN_PATHS:
            await messages.answer(send, self._admin(scope["method"], path))
            return
        try:
            body = await messages.read_body(receive, self.settings.max_body_bytes)
        except messages.ClientGone:
            return  # its request is not whole: nothing is forwarded, nobody waits for an answer
        if body is None:
            limit = self.settings.max_body_bytes
            await messages.answer(send, messages.error(413, f"The request body is larger than {limit} bytes"))
            return
        query = scope.get("query_string", b"").decode("latin-1")
        raw_headers: list[tuple[bytes, bytes]] = list(scope["headers"])
        headers = messages.text_fields(raw_headers)
        request = Request(scope["method"], path, messages.query_items(query), headers, body)
        operation = self.judge.operation(request.method, path)
        unjudged = path.startswith(UNJUDGED_PREFIX) or (
            request.method == "OPTIONS" and request.header("access-control-request-method") is not None
        )
        template = None if unjudged else self._templates.get(id(operation), "(not in the contract)")
        exchange = self.findings.begin(request.method, path, template, list(headers))
        started = False

        async def sending(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._exchange(request, query, raw_headers, operation, unjudged, exchange, receive, sending)
        except StreamBroke:
            pass  # said in the findings; returning unfinished closes the client's connection
        except UpstreamBroke as broke:
            exchange.status = broke.status
            if not started:
                await messages.answer(send, messages.error(broke.status, str(broke)))
        except Exception:  # the proxy's own fault: said in the contract's body, never a traceback
            log.exception("forwarding %s failed", exchange.label)
            if not started:
                exchange.status = 502
                await messages.answer(send, messages.error(502, "The proxy failed to forward this request"))
        finally:
            self.findings.end(exchange)

    async def _exchange(
        self,
        request: Request,
        query: str,
        raw_headers: list[tuple[bytes, bytes]],
        operation: dict[str, Any] | None,
        unjudged: bool,
        exchange: Exchange,
        receive: Receive,
        send: Send,
    ) -> None:
        if unjudged:
            problems: list[Problem] = []
        elif operation is None:
            problems = [Problem(("request",), "operation", "the contract has no such operation", "Warning")]
        else:
            problems = judged(exchange, self.judge.request, request)
        self.findings.add(exchange, problems)
        refusing = next((p for p in problems if p.severity == "Error"), None)
        if self.settings.errors and refusing is not None:
            status = 401 if refusing.code == "security" else 422
            violations = [("sl-violations", messages.sl_violations(problems))]
            exchange.status = status
            message = f"The request breaks the contract: {refusing}"
            await messages.answer(send, messages.error(status, message, violations))
            return
        upstream = await self._forward(request, query, raw_headers)
        try:
            if not 100 <= upstream.status_code <= 599:
                raise UpstreamBroke(
                    502, f"The upstream answered with status {upstream.status_code}, which HTTP has not"
                )
            exchange.status = upstream.status_code
            fields = end_to_end(upstream.headers.raw, upstream.http_version.removeprefix("HTTP/"))
            head = Response(upstream.status_code, messages.text_fields(upstream.headers.raw))
            relay = Relay(
                self.judge,
                self.findings,
                self.recorder,
                exchange,
                request,
                upstream,
                fields,
                self.settings.errors,
                self.settings.max_body_bytes,
            )
            in_contract = operation is not None and not unjudged
            if head.is_stream and upstream.status_code < 300:
                await relay.stream(head, problems if in_contract else None, receive, send)
            else:
                await relay.whole(head, problems, in_contract, send)
        finally:
            await upstream.aclose()

    async def _forward(
        self, request: Request, query: str, raw_headers: list[tuple[bytes, bytes]]
    ) -> httpx.Response:
        assert self._client is not None, "the proxy's lifespan has not started"
        # The path as it came, dot segments and escapes kept: what is judged is what is forwarded.
        target = self._base_path + request.path + (f"?{query}" if query else "")
        url = httpx.URL(self._base).copy_with(raw_path=target.encode("latin-1"))
        accepted = next((v for k, v in raw_headers if k.lower() == b"accept-encoding"), None)
        fields = end_to_end(raw_headers, "1.1", drop=(b"host", b"content-length", b"accept-encoding"))
        fields.append((b"accept-encoding", readable_codings(accepted)))
        outgoing = self._client.build_request(request.method, url, headers=fields, content=request.body)
        try:
            return await self._client.send(outgoing, stream=True)
        except httpx.TimeoutException as exc:
            raise UpstreamBroke(504, f"The upstream {self._base} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise UpstreamBroke(
                502, f"The upstream {self._base} cannot be reached: {type(exc).__name__}"
            ) from exc

    def _admin(self, method: str, path: str) -> Response:
        if method != "GET":
            return messages.error(405, f"{method} is not served on {path}", [("allow", "GET")])
        if path == "/__mock/violations":
            return messages.json_answer(self.findings.summary())
        return messages.json_answer({"exchanges": self.findings.journal()})
