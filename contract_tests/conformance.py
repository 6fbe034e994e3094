"""Validation of real HTTP exchanges against the served OpenAPI document, with openapi-core.

This is independent of the server's own validation, so it judges any implementation.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from contract_tests.documents import bundled_document
from contract_tests.streams import ChunkSchema, StreamGrammar


@dataclass
class _Request:
    """An `httpx.Request` as openapi-core's `Request` protocol."""

    request: httpx.Request

    def __post_init__(self) -> None:
        url = self.request.url
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(url.params.multi_items())),
            header=Headers(list(self.request.headers.items())),
            cookie=ImmutableMultiDict(),
        )

    @property
    def host_url(self) -> str:
        return f"{self.request.url.scheme}://{self.request.url.netloc.decode()}"

    @property
    def path(self) -> str:
        return urlsplit(str(self.request.url)).path

    @property
    def method(self) -> str:
        return self.request.method.lower()

    @property
    def body(self) -> bytes | None:
        return self.request.content or None

    @property
    def content_type(self) -> str:
        return str(self.request.headers.get("content-type", "")).lower()


@dataclass
class _Response:
    """A read `httpx.Response` as openapi-core's `Response` protocol."""

    response: httpx.Response
    body: bytes | None = None

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def headers(self) -> Headers:
        return Headers(list(self.response.headers.items()))

    @property
    def content_type(self) -> str:
        return str(self.response.headers.get("content-type", "")).lower()

    @property
    def data(self) -> bytes | None:
        return self.body if self.body is not None else (self.response.content or None)


SSE = "text/event-stream"


def parse_sse(text: str) -> list[dict[str, str]]:
    """The events of a server-sent event stream, as `{"data", "event"?, "id"?}` objects."""
    events = []
    for block in re.split(r"\r\n\r\n|\n\n|\r\r", text):
        event: dict[str, str] = {}
        data: list[str] = []
        for line in re.split(r"\r\n|\n|\r", block):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            elif name in ("event", "id", "retry"):
                event[name] = value
        if data:
            events.append({"data": "\n".join(data), **event})
    return events


def _event(data: bytes, **_parameters: str) -> Any:
    # Each event is handed to openapi-core on its own, JSON-encoded (see `SpecConformance.check`).
    return json.loads(data)


class SpecConformance:
    """Checks that responses are documented by, and valid against, an OpenAPI document."""

    def __init__(self, document: dict[str, Any]) -> None:
        document = copy.deepcopy(document)
        # The document names the production host; a target may be anywhere.
        document["servers"] = [{"url": "/"}]
        # A `text/event-stream` schema describes one event (as OpenAPI 3.2 and Schemathesis
        # read it), which openapi-core does not know: events are checked one at a time.
        config = Config(extra_media_type_deserializers={SSE: _event})
        self._openapi = OpenAPI.from_dict(document, config=config)
        self.chunks = ChunkSchema(bundled_document())
        """Each event's JSON chunk, checked against the suite's own copy of the chunk schema."""

    def check(self, response: httpx.Response) -> None:
        """Raise `AssertionError` when `response` (already read) breaks the document."""
        request = _Request(response.request)
        if response.headers.get("content-type", "").startswith(SSE):
            events = parse_sse(response.text)
            if not events:
                self._fail(response, "an event stream without events")
            grammar = StreamGrammar(from_start=response.request.url.params.get("startIndex", "0") == "0")
            for event in events:
                self._validate(request, _Response(response, json.dumps(event).encode()))
                problem = self._chunk_problem(event["data"], grammar)
                if problem:
                    self._fail(response, f"the answer's stream breaks AI SDK v6 clients: {problem}")
        else:
            self._validate(request, _Response(response))

    def _chunk_problem(self, data: str, grammar: StreamGrammar) -> str | None:
        if data == "[DONE]":
            return None
        try:
            chunk = json.loads(data)
        except ValueError:
            return f"an event is not JSON: {data[:200]!r}"
        if not isinstance(chunk, dict):
            return f"an event is not a JSON object: {data[:200]!r}"
        return self.chunks.problem(chunk) or grammar.feed(chunk)

    def _validate(self, request: _Request, response: _Response) -> None:
        try:
            self._openapi.validate_response(request, response)
        except Exception as exc:
            details = "; ".join(str(e) for e in getattr(exc, "schema_errors", [])) or str(exc)
            self._fail(response.response, details, exc)

    @staticmethod
    def _fail(response: httpx.Response, details: str, cause: Exception | None = None) -> None:
        raise AssertionError(
            f"{response.request.method} {response.request.url.path} -> "
            f"{response.status_code}: response breaks the spec: {details}\n"
            f"body: {response.text[:500]}"
        ) from cause
