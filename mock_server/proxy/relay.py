"""An upstream's answer on its way to the client: read whole, judged, then sent with its
`sl-violations`; or, for an event stream, sent piece by piece as it comes and judged as it passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.types import Receive, Send

from contract_judge import Judge, Problem, Request, Response, StreamJudge
from mock_server.proxy import messages
from mock_server.proxy.findings import Exchange, Findings
from mock_server.proxy.forwarding import Decoder
from mock_server.proxy.recording import Recorder, Reply

log = logging.getLogger("recoup_mock.proxy")


class StreamBroke(Exception):
    """The upstream's stream broke off: the client's is cut too (its connection closed)."""


class UpstreamBroke(Exception):
    """The upstream's answer broke off before the client was sent anything: 502 or 504."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def judged(exchange: Exchange, judging: Callable[..., list[Problem]], *args: Any) -> list[Problem]:
    """The judge's problems; a fault of the judge is said, never the client's to bear."""
    try:
        return judging(*args)
    except Exception as exc:
        log.exception("judging %s failed", exchange.label)
        message = f"not judged: the judge failed ({type(exc).__name__})"
        return [Problem(("judge",), "judge", message, "Warning")]


@dataclass
class Relay:
    """One exchange's answer: what it judges with, where its findings go, and the client's ends."""

    judge: Judge
    findings: Findings
    recorder: Recorder | None
    exchange: Exchange
    request: Request
    upstream: httpx.Response
    fields: list[tuple[bytes, bytes]]
    """The answer's end-to-end fields, as the client gets them."""
    errors: bool
    max_body_bytes: int

    def judged(self, judging: Callable[..., list[Problem]], *args: Any) -> list[Problem]:
        return judged(self.exchange, judging, *args)

    async def whole(self, head: Response, problems: list[Problem], judged: bool, send: Send) -> None:
        """Read the answer (up to `max_body_bytes`; beyond, the rest passes unjudged), judge it, send it."""
        raw = bytearray()
        pieces = self.upstream.aiter_raw()
        try:
            async for piece in pieces:
                raw += piece
                if self.max_body_bytes and len(raw) > self.max_body_bytes:
                    break
            else:
                await self._judged_answer(head, bytes(raw), problems, judged, send)
                return
        except httpx.TimeoutException as exc:
            raise UpstreamBroke(504, "The upstream stopped sending its answer") from exc
        except httpx.HTTPError as exc:
            raise UpstreamBroke(502, f"The upstream's answer broke off ({type(exc).__name__})") from exc
        limit = f"not judged: larger than {self.max_body_bytes} bytes (--max-body-bytes)"
        self.findings.add(self.exchange, [Problem(("response", "body"), "size", limit, "Warning")])
        await messages.start(send, head.status, self.fields)
        await send({"type": "http.response.body", "body": bytes(raw), "more_body": True})
        with contextlib.suppress(httpx.HTTPError):  # the client learns of a cut body by its length
            async for piece in pieces:
                await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def _judged_answer(
        self, head: Response, raw: bytes, problems: list[Problem], judged: bool, send: Send
    ) -> None:
        decoder = Decoder(head.header("content-encoding"), most=self.max_body_bytes)
        text = decoder.decode(raw, final=True)
        found: list[Problem] = []
        if judged and text is None:
            unread = f"not judged: coded {decoder.coding}"
            found = [Problem(("response", "body"), "content-coding", unread, "Warning")]
        elif judged and text is not None:
            answer = Response(head.status, head.headers, text.encode())
            found = self.judged(self.judge.answer, self.request, answer, problems)
            if self.recorder is not None:
                self.recorder.answered(self.request, head.status, answer.body)
        self.findings.add(self.exchange, found)
        if self.errors and any(p.severity == "Error" for p in found):
            first = next(p for p in found if p.severity == "Error")
            violations = [("sl-violations", messages.sl_violations(found))]
            message = f"The upstream's answer breaks the contract: {first}"
            await messages.answer(send, messages.error(500, message, violations))
            return
        fields = list(self.fields)
        if head.status in (204, 304):  # no body, so no length of one (RFC 9110 8.6)
            fields, raw = [f for f in fields if f[0].lower() != b"content-length"], b""
        if problems or found:
            fields.append((b"sl-violations", messages.sl_violations(problems + found).encode()))
        await messages.start(send, head.status, fields)
        await send({"type": "http.response.body", "body": raw})

    async def stream(
        self, head: Response, problems: list[Problem] | None, receive: Receive, send: Send
    ) -> None:
        """Pass the event stream on as it comes; the client leaving leaves the upstream too."""
        self.exchange.stream = True
        decoder = Decoder(head.header("content-encoding"))
        judging = self.judge.stream(self.request, head) if problems is not None else None
        if judging is not None and not decoder.readable:
            unread = f"not judged: coded {decoder.coding}"
            self.findings.add(
                self.exchange, [Problem(("response", "body"), "content-coding", unread, "Warning")]
            )
            judging = None
        fields = list(self.fields)
        if problems:
            fields.append((b"sl-violations", messages.sl_violations(problems).encode()))
        await messages.start(send, head.status, fields)
        reply = self.recorder.reply(self.request) if self.recorder is not None else None
        pump = asyncio.ensure_future(self._pump(decoder, judging, reply, send))
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
        self, decoder: Decoder, judging: StreamJudge | None, reply: Reply | None, send: Send
    ) -> None:
        try:
            async for piece in self.upstream.aiter_raw():
                await send({"type": "http.response.body", "body": piece, "more_body": True})
                text = decoder.decode(piece)
                if text is None and judging is not None:  # a coding that broke: the rest passes unjudged
                    unread = f"not judged past this point: the {decoder.coding} coding broke"
                    self.findings.add(
                        self.exchange, [Problem(("response", "body"), "content-coding", unread, "Warning")]
                    )
                    judging = None
                self._passed(text, judging, reply)
        except httpx.HTTPError as exc:
            log.warning("the upstream's stream broke off: %s: %s", self.exchange.label, type(exc).__name__)
            broke = f"the upstream's stream broke off ({type(exc).__name__})"
            self.findings.add(self.exchange, [Problem(("response", "body"), "stream", broke)])
            # Not ended as a whole stream is: the client's connection is cut, as the upstream's was,
            # so that the client (the AI SDK's, say) sees a network error, not a normal end.
            raise StreamBroke from exc
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        self._passed(decoder.decode(b"", final=True), judging, reply)
        if reply is not None:
            reply.end()
        if judging is not None:
            self.findings.add(self.exchange, self.judged(judging.end))
            self.exchange.events = judging.events

    def _passed(self, text: str | None, judging: StreamJudge | None, reply: Reply | None) -> None:
        if not text:
            return
        if reply is not None:
            reply.feed(text)
        if judging is not None:
            self.findings.add(self.exchange, self.judged(judging.feed, text))
