"""Judging exchanges against an OpenAPI document with openapi-core, independently of any server's
own validation: a request, a response read whole, or an event stream fed as it passes.

A `text/event-stream` schema describes one event (as OpenAPI 3.2 and Schemathesis read it), which
openapi-core does not know: each event is handed to it on its own, JSON-encoded, and its `data`
is judged as a `UIMessageChunk` in an order v6 clients can assemble (`streams`).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

import jsonschema
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.validation.request import exceptions as request_errors
from openapi_core.validation.response import exceptions as response_errors
from werkzeug.datastructures import Headers, ImmutableMultiDict

from contract_judge.bodies import error_body_problem, status_required
from contract_judge.exchange import Request, Response
from contract_judge.problems import Problem
from contract_judge.sse import Event, EventParser
from contract_judge.streams import ChunkSchema, StreamGrammar, anchored, registry_of
from mock_server.http.spec import deref

SSE = "text/event-stream"
DONE = "[DONE]"
EXCERPT = 200
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass
class _CoreRequest:
    """A `Request` as openapi-core's request protocol."""

    request: Request

    def __post_init__(self) -> None:
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(self.request.query)),
            header=Headers(list(self.request.headers)),
            cookie=ImmutableMultiDict(),
        )

    host_url = "http://judge"

    @property
    def path(self) -> str:
        return self.request.path

    @property
    def method(self) -> str:
        return self.request.method.lower()

    @property
    def body(self) -> bytes | None:
        return self.request.body or None

    @property
    def content_type(self) -> str:
        return self.request.content_type


@dataclass
class _CoreResponse:
    """A `Response` as openapi-core's response protocol; `data` one event's for a stream."""

    response: Response
    data: bytes | None

    @property
    def status_code(self) -> int:
        return self.response.status

    @property
    def headers(self) -> Headers:
        return Headers(list(self.response.headers))

    @property
    def content_type(self) -> str:
        return self.response.content_type


def _event_data(data: bytes, **_parameters: str) -> Any:
    return json.loads(data)


def _text(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:  # some of openapi-core's messages cannot render a body that is not UTF-8
        return type(error).__name__


def _details(error: Exception) -> str:
    inner = getattr(error, "schema_errors", None) or [getattr(error, "__cause__", None)]
    found = "; ".join(_text(e) for e in inner if e is not None)
    return found or _text(error)


def _request_problem(error: Exception) -> Problem:
    if isinstance(error, PathNotFound | OperationNotFound):
        return Problem(("request",), "operation", f"the contract has no such operation: {_text(error)}")
    if isinstance(error, request_errors.SecurityValidationError):
        return Problem(
            ("request", "security"), "security", f"no credentials the operation accepts: {_text(error)}"
        )
    if isinstance(error, request_errors.ParameterValidationError):
        where = getattr(error, "location", "parameters")
        return Problem(("request", str(where)), "parameter", _details(error))
    if isinstance(error, MediaTypeNotFound):
        return Problem(("request", "headers", "content-type"), "content-type", _text(error))
    return Problem(("request", "body"), "schema", _details(error))


def _response_problem(error: Exception, where: tuple[str, ...]) -> Problem:
    if isinstance(error, ResponseNotFound):
        return Problem(("response", "status"), "status", f"the operation does not document {_text(error)}")
    if isinstance(error, MediaTypeNotFound):
        return Problem(("response", "headers", "content-type"), "content-type", _text(error))
    if isinstance(error, response_errors.HeaderValidationError):
        return Problem(("response", "headers"), "header", _details(error))
    return Problem(("response", "body", *where), "schema", _details(error))


class Judge:
    """Judges exchanges against `document`; chunks against `chunk_document`'s `UIMessageChunk`
    (the document itself unless another is given: the suite holds any target to what v6 clients
    accept, whatever the target documents)."""

    def __init__(self, document: dict[str, Any], chunk_document: dict[str, Any] | None = None) -> None:
        self.document = document
        served = copy.deepcopy(document)
        served["servers"] = [{"url": "/"}]  # the document names the production host; a target may be anywhere
        config = Config(extra_media_type_deserializers={SSE: _event_data})
        self._openapi = OpenAPI.from_dict(served, config=config)
        self.chunks = ChunkSchema(chunk_document or document)
        self._registry = registry_of(document)
        self._event_schemas: dict[str, jsonschema.Draft202012Validator] = {}
        # A literal segment before a templated one, from the left, as the service's router matches
        # them: `GET /api/chat/runs/stream` is the run `stream`, not the stream of chat `runs`.
        routes = [
            (
                [segment.startswith("{") for segment in path.split("/")],
                path,
                re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$"),
                item,
            )
            for path, item in document.get("paths", {}).items()
        ]
        self._routes = [(pattern, item) for _, _, pattern, item in sorted(routes, key=lambda r: r[:2])]

    def operation(self, method: str, path: str) -> dict[str, Any] | None:
        """The operation of the document `method path` (an actual path) is, or None."""
        for pattern, item in self._routes:
            if pattern.match(path) and method.lower() in item:
                operation: dict[str, Any] = item[method.lower()]
                return operation
        return None

    def request(self, request: Request) -> list[Problem]:
        """What in `request` breaks the document (a client's fault)."""
        try:
            self._openapi.validate_request(_CoreRequest(request))
        except Exception as error:
            if self._reads_as_empty(request, error):
                return []
            return [_request_problem(error)]
        return []

    def _reads_as_empty(self, request: Request, error: Exception) -> bool:
        """A body the operation declares it reads as `{}` (`x-recoup-request.readAsEmpty`)."""
        if not isinstance(error, request_errors.RequestBodyValidationError):
            return False
        media_type = request.content_type.split(";")[0].strip()
        if media_type and media_type != "application/json" and not media_type.endswith("+json"):
            return False  # a body in another media type is refused (415), not read as `{}`
        operation = self.operation(request.method, request.path) or {}
        reads = operation.get("x-recoup-request", {}).get("readAsEmpty", [])
        try:
            body = json.loads(request.body)
        except ValueError:
            return "malformed" in reads
        return not isinstance(body, dict) and "not-an-object" in reads

    def response(self, request: Request, response: Response) -> list[Problem]:
        """What in `response` (read whole; a stream's every event) breaks the document; the error
        body rule is `error_body`."""
        if response.is_stream and response.status < 300:
            stream = self.stream(request, response)
            return stream.feed(response.body.decode("utf-8", "replace")) + stream.end()
        return self._validate(request, response, response.body or None, ())

    def answer(self, request: Request, response: Response, refused: list[Problem]) -> list[Problem]:
        """What in a whole answer breaks the contract, its error body included. When the request
        broke the contract (`refused`, the request's problems), any 4xx status may refuse it: no
        contract documents every refusal of a request it does not describe."""
        problems = self.response(request, response) + self.error_body(request, response)
        if any(p.severity == "Error" for p in refused) and 400 <= response.status < 500:
            problems = [p for p in problems if p.code != "status"]
        return problems

    def error_body(self, request: Request, response: Response) -> list[Problem]:
        """An error answer that is not the contract's error body."""
        operation = self.operation(request.method, request.path)
        problem = error_body_problem(
            response.status,
            response.content_type,
            response.body,
            status_required=status_required(self.document, operation, response.status),
        )
        return [Problem(("response", "body"), "error-body", problem)] if problem else []

    def event_schema(self, request: Request, response: Response) -> jsonschema.Draft202012Validator | None:
        """A validator of one event of the stream `response` answers `request` with, per the document."""
        operation = self.operation(request.method, request.path) or {}
        responses = operation.get("responses", {})
        answer = deref(self.document, responses.get(str(response.status)) or responses.get("default"))
        schema = (answer or {}).get("content", {}).get(SSE, {}).get("schema")
        if not isinstance(schema, dict):
            return None
        key = json.dumps(schema, sort_keys=True)
        if key not in self._event_schemas:
            self._event_schemas[key] = jsonschema.Draft202012Validator(
                anchored(schema), registry=self._registry
            )
        return self._event_schemas[key]

    def stream(self, request: Request, response: Response) -> StreamJudge:
        """A judge of the event stream `response` begins (its status and headers): feed it the
        body's text as it comes."""
        return StreamJudge(self, request, response)

    def _validate(
        self, request: Request, response: Response, data: bytes | None, where: tuple[str, ...]
    ) -> list[Problem]:
        try:
            self._openapi.validate_response(_CoreRequest(request), _CoreResponse(response, data))
        except Exception as error:
            return [_response_problem(error, where)]
        return []


class StreamJudge:
    """One event stream, judged event by event as its text is fed."""

    def __init__(self, judge: Judge, request: Request, response: Response) -> None:
        self._judge = judge
        self._request = request
        self._response = response
        self._parser = EventParser()
        self._grammar = StreamGrammar(from_start=request.param("startIndex") in (None, "0"))
        self.events = 0
        self.done = False
        """`data: [DONE]` was seen."""
        self._event_schema: jsonschema.Draft202012Validator | None = None
        """Set once the first event has been judged whole."""

    def feed(self, text: str) -> list[Problem]:
        return [p for event in self._parser.feed(text) for p in self._event(event)]

    def end(self) -> list[Problem]:
        """The stream has closed: its last events, and a stream that never said anything."""
        problems = [p for event in self._parser.end() for p in self._event(event)]
        if self.events == 0:
            problems.append(Problem(("response", "body"), "stream", "an event stream without events"))
        return problems

    def _envelope(self, event: Event, where: tuple[str, ...]) -> list[Problem]:
        """The first event with the whole answer's head (status, headers, media type), through
        openapi-core; each later one against the event schema alone, at a fraction of the cost."""
        if self._event_schema is None:
            return self._judge._validate(self._request, self._response, json.dumps(event).encode(), where)
        error = jsonschema.exceptions.best_match(self._event_schema.iter_errors(event))
        return [Problem(("response", "body", *where), "schema", error.message)] if error else []

    def _event(self, event: Event) -> list[Problem]:
        index, self.events = self.events, self.events + 1
        where = (f"event {index}",)
        if index == 1:
            self._event_schema = self._judge.event_schema(self._request, self._response)
        data = event["data"]
        if self.done:
            message = f"an event after `data: [DONE]`: {data[:EXCERPT]!r}"
            return [Problem(("response", "body", *where), "stream", message)]
        problems = self._envelope(event, where)
        if data == DONE:
            self.done = True
            return problems
        try:
            chunk = json.loads(data)
        except ValueError:
            chunk = None
        if not isinstance(chunk, dict):
            message = f"an event is not a JSON chunk: {data[:EXCERPT]!r}"
            return [*problems, Problem(("response", "body", *where), "chunk", message)]
        problem = self._judge.chunks.problem(chunk)
        if problem:
            return [*problems, Problem(("response", "body", *where), "chunk", problem)]
        order = self._grammar.feed(chunk)
        if order:
            return [*problems, Problem(("response", "body", *where), "order", order)]
        return problems
