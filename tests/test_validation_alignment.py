"""Connexion's request validation and the 3.1 contract give every request the same verdict.

Connexion 3.3 validates parameters and JSON bodies with draft-4 JSON Schema, on the 3.0 view of the
served documents (`connexion_view`); Schemathesis generates and judges requests with JSON Schema 2020-12
on the 3.1 documents. Wherever the two read a schema differently, a correct mock is blamed by the
contract suite, or accepts what the contract forbids. So both are handed the same requests, as bytes
on the wire: Schemathesis's own positive and negative cases, and mutations made keyword by keyword
from a valid request. The verdicts must agree.

The mock's verdict is Connexion's `RequestValidationOperation` (the code the app runs, with the app's
options), then the one check the service makes in Connexion's place: `format: uuid`, which Connexion's
draft-4 format checker does not know, so `require_uuid` answers 400 from the service
(`UUID_CHECKED_BY_THE_SERVICE`). The contract's verdict is `Draft202012Validator` on the 3.1 schema,
with `uuid` checked as RFC 9562 spells it (and as Schemathesis's validator checks it).

Known gaps, where the mock still reads the wire differently (in Connexion's query parsing, not in
the schemas), are what `known_gap` leaves out; `KNOWN_GAPS` shows each
is still open, so closing one turns its test red until it is removed.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import pytest
import requests
import schemathesis
from connexion.exceptions import ProblemException
from connexion.middleware.request_validation import RequestValidationAPI
from connexion.resolver import Resolver
from connexion.spec import Specification
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from schemathesis import GenerationMode

from mock_server.domain.models import is_uuid
from mock_server.http.spec import ADMIN_SPEC_PATH, Document, connexion_view, deref, load_document

# Every rewrite `connexion_view` makes, in one request, so the comparison covers the downgrade itself
# and not only the keywords the served documents happen to use today.
SPECIMEN: Document = {
    "openapi": "3.1.0",
    "info": {"title": "Every keyword connexion_view rewrites", "version": "1"},
    "paths": {
        "/specimen/{id}": {
            "post": {
                "operationId": "specimen",
                "parameters": [
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "const": "a"},
                    },
                    {"name": "above", "in": "query", "schema": {"type": "integer", "exclusiveMinimum": 0}},
                    {
                        "name": "both",
                        "in": "query",
                        "schema": {"type": "integer", "maximum": 9, "exclusiveMaximum": 5, "minimum": 1},
                    },
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Specimen"}}},
                },
                "responses": {"200": {"description": "ok"}},
            }
        }
    },
    "components": {
        "schemas": {
            "Letter": {"type": "string", "enum": ["a", "b"]},
            "Specimen": {
                "type": "object",
                "required": ["kind"],
                "additionalProperties": False,
                "properties": {
                    "kind": {"const": "specimen", "examples": ["specimen"]},
                    "text": {"type": ["string", "null"], "maxLength": 2},
                    "letter": {"type": ["string", "null"], "enum": ["a", "b"]},
                    "scalar": {"type": ["string", "number", "null"], "minLength": 1},
                    "choice": {"anyOf": [{"$ref": "#/components/schemas/Letter"}, {"type": "null"}]},
                    "one": {"oneOf": [{"type": "number"}, {"type": "null"}]},
                    "nothing": {"type": "null"},
                    "narrowed": {"$ref": "#/components/schemas/Letter", "enum": ["a"]},
                    "positive": {"type": "number", "exclusiveMinimum": 0},
                    "between": {"type": "number", "minimum": 3, "exclusiveMinimum": 2, "exclusiveMaximum": 4},
                    "list": {"type": "array", "items": {"type": ["boolean", "null"]}, "maxItems": 2},
                },
            },
        }
    },
}
DOCUMENTS = {"api": load_document(), "admin": load_document(ADMIN_SPEC_PATH), "specimen": SPECIMEN}
SERVED = ("api", "admin")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
JSON = "application/json"

# Where the service, not Connexion, refuses a string that is not a UUID (`require_uuid` and
# `ChatService.create_chat`): path parameters by name, body fields by JSON pointer.
UUID_CHECKED_BY_THE_SERVICE = {
    "stopChat": {"path:chatId"},
    "sendChatMessage": {"body:/chatId", "body:/sessionId"},
    "resumeChatStream": {"path:chatId"},
    "listSessionChats": {"path:sessionId"},
    "createSessionChat": {"path:sessionId", "body:/id"},
    "getSessionChat": {"path:sessionId", "path:chatId"},
    "startGeneration": {"path:chatId"},
}

# Keywords of request schemas whose draft-4 reading (after `connexion_view`) is the 2020-12 one, as
# these tests show. Another keyword in a request schema needs its own look first (`pattern`, say:
# Python's `re` and ECMA-262 disagree on `\d`).
KEYWORDS_READ_ALIKE = {
    "$ref", "type", "enum", "const", "required", "properties", "additionalProperties", "items",
    "minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "anyOf", "oneOf", "allOf", "not", "format", "default",
    "description", "title", "example", "examples",
}  # fmt: skip
FORMATS_READ_ALIKE = {"uuid"}  # with the service's check
PARAMETER_TYPES_READ_ALIKE = {"string", "integer"}  # how `contract_reading` reads query text


def strict_uuid(value: object) -> bool:
    pattern = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    return not isinstance(value, str) or re.fullmatch(pattern, value) is not None


UUID_FORMAT = FormatChecker(formats=())
UUID_FORMAT.checks("uuid")(strict_uuid)


# The operations, their parameters and bodies, as JSON pointers into the 3.1 document.


def pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def at(document: Document, where: str) -> Any:
    node: Any = document
    for part in where.removeprefix("/").split("/") if where else []:
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def follow(document: Document, where: str) -> str:
    """The pointer a `$ref` at `where` finally leads to."""
    while "$ref" in at(document, where):
        where = at(document, where)["$ref"].removeprefix("#")
    return where


@dataclass
class Operation:
    document: str
    path: str
    method: str
    operation_id: str
    parameters: dict[tuple[str, str], str] = field(default_factory=dict)  # (in, name) -> parameter
    body: str | None = None  # the request body object
    body_required: bool = False

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"

    def parameter(self, location: str, name: str) -> dict[str, Any]:
        return at(DOCUMENTS[self.document], self.parameters[(location, name)])  # type: ignore[no-any-return]

    def body_schema(self) -> str:
        assert self.body is not None
        return self.body + pointer("content", JSON, "schema")


def operations() -> Iterator[Operation]:
    for name, document in DOCUMENTS.items():
        for path, item in document["paths"].items():
            for method in METHODS:
                if method not in item:
                    continue
                op = Operation(name, path, method, item[method]["operationId"])
                for owner in (pointer("paths", path), pointer("paths", path, method)):
                    for i, _ in enumerate(at(document, owner).get("parameters", [])):
                        where = follow(document, f"{owner}/parameters/{i}")
                        param = at(document, where)
                        op.parameters[(param["in"], param["name"])] = where
                if "requestBody" in item[method]:
                    op.body = follow(document, pointer("paths", path, method, "requestBody"))
                    op.body_required = at(document, op.body).get("required", False)
                    assert list(at(document, op.body)["content"]) == [JSON], op.label
                yield op


OPERATIONS = list(operations())
WITH_INPUT = [op for op in OPERATIONS if op.parameters or op.body]


# The contract's verdict.

REGISTRIES = {
    name: Registry().with_resource(f"urn:{name}", Resource(document, DRAFT202012))
    for name, document in DOCUMENTS.items()
}


def contract_validator(document: str, where: str) -> Draft202012Validator:
    return Draft202012Validator(
        {"$ref": f"urn:{document}#{where}"}, registry=REGISTRIES[document], format_checker=UUID_FORMAT
    )


JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def contract_reading(text: str, schema: dict[str, Any]) -> Any:
    """The JSON value a `form`/`simple` parameter's text stands for: a number where one is expected."""
    if schema.get("type") in ("integer", "number") and JSON_NUMBER.fullmatch(text):
        return json.loads(text)
    return text


@dataclass
class Wire:
    """A request as the server receives it (its path already routed)."""

    path_params: dict[str, str]
    query: str = ""
    body: bytes | None = None
    content_type: str | None = JSON

    def query_values(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)

    def describe(self) -> str:
        return f"path {self.path_params}, query {self.query!r}, {self.content_type} body {self.body!r}"


def contract_verdict(op: Operation, wire: Wire) -> dict[str, bool]:
    """Whether each part of the request is valid under the 3.1 contract."""
    verdict: dict[str, bool] = {}
    query = wire.query_values()
    for (location, name), where in op.parameters.items():
        param = op.parameter(location, name)
        if location == "path":
            values = [wire.path_params[name]]
        elif location == "query":
            values = query.get(name, [])
        else:
            raise AssertionError(f"{op.label}: a {location} parameter needs a reading of its own")
        if not values:
            verdict[f"{location}:{name}"] = not param.get("required", False)
            continue
        validator = contract_validator(op.document, where + "/schema")
        verdict[f"{location}:{name}"] = len(values) == 1 and validator.is_valid(
            contract_reading(values[0], param["schema"])
        )
    if op.body is not None:
        verdict["body"] = body_valid(op, wire)
    return verdict


def body_valid(op: Operation, wire: Wire) -> bool:
    if wire.body is None or wire.body == b"":
        return not op.body_required
    if (wire.content_type or JSON).split(";")[0].strip().lower() != JSON:
        return False
    try:
        value = json.loads(wire.body.decode("utf-8"))
    except ValueError:  # not UTF-8, not JSON
        return False
    return contract_validator(op.document, op.body_schema()).is_valid(value)


# The mock's verdict: Connexion, then the service's UUID checks.


class ConnexionValidation:
    """Connexion's request validation of one document's 3.0 view, as `create_app` sets it up."""

    def __init__(self, document: Document) -> None:
        api = RequestValidationAPI(
            Specification.load(connexion_view(document)),
            next_app=self._reached_the_handler,
            resolver=Resolver(function_resolver=lambda _operation_id: self._reached_the_handler),
        )
        self._operations = api.operations

    @staticmethod
    async def _reached_the_handler(*_args: Any) -> None:
        return None

    async def refusal(self, operation_id: str, wire: Wire) -> str | None:
        """Why Connexion refuses `wire`, or None when the request reaches the handler."""
        headers = []
        if wire.body is not None:
            headers.append((b"content-length", str(len(wire.body)).encode()))
        if wire.content_type is not None:
            headers.append((b"content-type", wire.content_type.encode("latin-1")))
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/",
            "path_params": wire.path_params,
            "query_string": wire.query.encode("ascii"),
            "headers": headers,
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": wire.body or b"", "more_body": False}

        try:
            await self._operations[operation_id](scope, receive, self._reached_the_handler)
        except ProblemException as problem:
            return f"{problem.status} {problem.detail}"
        except UnicodeDecodeError:  # the app answers 400 (errors.render_undecodable_body)
            return "400 not UTF-8"
        return None


@functools.cache
def connexion(document: str) -> ConnexionValidation:
    return ConnexionValidation(DOCUMENTS[document])


def service_refusal(op: Operation, wire: Wire) -> str | None:
    body = json.loads(wire.body) if wire.body else None
    for check in sorted(UUID_CHECKED_BY_THE_SERVICE.get(op.operation_id, ())):
        location, name = check.split(":")
        if location == "path":
            value = wire.path_params[name]
        else:
            value = body
            for part in name.removeprefix("/").split("/"):
                value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and not is_uuid(value):
            return f"400 {name} must be a valid UUID"
    return None


def mock_refusal(runner: asyncio.Runner, op: Operation, wire: Wire) -> str | None:
    refusal = runner.run(connexion(op.document).refusal(op.operation_id, wire))
    return refusal or service_refusal(op, wire)


# Where the mock is known to read the wire differently from the contract.


def known_gap(op: Operation, wire: Wire) -> str | None:
    query = wire.query_values()
    for (location, name), _ in op.parameters.items():
        schema = op.parameter(location, name)["schema"]
        values = query.get(name, []) if location == "query" else [wire.path_params[name]]
        if len(values) > 1:
            return "Connexion reads the last of a repeated scalar query parameter"
        if values and schema.get("type") == "integer":
            text = values[0]
            try:
                connexion_reads: Any = int(text)
            except ValueError:
                connexion_reads = text
            if connexion_reads != contract_reading(text, schema):
                return "Connexion reads query integers with Python's int(), not as JSON numbers"
    return None


def disagreement(runner: asyncio.Runner, op: Operation, wire: Wire) -> str | None:
    contract = contract_verdict(op, wire)
    refusal = mock_refusal(runner, op, wire)
    if all(contract.values()) == (refusal is None):
        return None
    return f"{op.label}: {wire.describe()}\n  contract: {contract}\n  mock: {refusal or 'accepted'}"


# Requests made keyword by keyword: a valid request, then one part of it changed at a time.


def resolved(document: str, schema: Any) -> Any:
    """`schema` with its `$ref`s inlined; a `$ref` with siblings becomes `allOf`, as 3.1 reads it."""
    if isinstance(schema, dict) and "$ref" in schema:
        target = resolved(document, deref(DOCUMENTS[document], {"$ref": schema["$ref"]}))
        siblings = {k: resolved(document, v) for k, v in schema.items() if k != "$ref"}
        return {"allOf": [target], **siblings} if siblings else target
    if isinstance(schema, dict):
        return {k: resolved(document, v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [resolved(document, v) for v in schema]
    return schema


VALID_UUID = "0b7a3c1e-9f0d-4c55-8e21-6a0f6d7e5b42"


def sample(schema: dict[str, Any]) -> Any:
    """A small valid value of `schema` (a resolved schema)."""
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in [*schema["allOf"], {k: v for k, v in schema.items() if k != "allOf"}]:
            merged.update(part)
        return sample(merged)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema or "oneOf" in schema:
        return sample(schema.get("anyOf", schema.get("oneOf"))[0])
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        return {name: sample(schema["properties"][name]) for name in schema.get("required", [])}
    if kind == "array":
        return [sample(schema.get("items", {}))] * schema.get("minItems", 0)
    if kind == "string":
        return VALID_UUID if schema.get("format") == "uuid" else "x" * max(schema.get("minLength", 0), 1)
    if kind in ("integer", "number"):
        return max(schema.get("minimum", 0), schema.get("exclusiveMinimum", -1) + 1)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return {}


ANY_TYPE = [None, True, False, 0, -1, 1.0, 1.5, "", "x", "null", [], [None], {}, {"x": 1}]
UUIDS = [
    VALID_UUID,
    VALID_UUID.upper(),
    VALID_UUID.replace("-", ""),
    "{" + VALID_UUID + "}",
    "urn:uuid:" + VALID_UUID,
    VALID_UUID[:-1],
    VALID_UUID + "0",
    "not-a-uuid",
    "\n",
    " ",
]


def candidates(schema: dict[str, Any]) -> list[Any]:
    """Values around every keyword of `schema`: each type, each bound, each member."""
    values = list(ANY_TYPE)
    for low, high in (("minLength", "maxLength"), ("minItems", "maxItems"), ("minimum", "maximum")):
        for bound in (schema.get(low), schema.get(high)):
            if bound is None:
                continue
            for n in (bound - 1, bound, bound + 1):
                if low == "minimum":
                    values += [n, float(n), n + 0.5]
                elif n >= 0:
                    values += ["é" * n] if low == "minLength" else [[sample(schema.get("items", {}))] * n]
    for key in ("exclusiveMinimum", "exclusiveMaximum"):
        if key in schema:
            values += [schema[key] - 1, schema[key], schema[key] + 1]
    values += [*schema.get("enum", []), schema.get("const"), "not-a-member"]
    if schema.get("format") == "uuid":
        values += UUIDS
    return values


def variants(schema: dict[str, Any], value: Any) -> Iterator[Any]:
    """Values that differ from the valid `value` in one place, valid or not."""
    yield from candidates(schema)
    for alternative in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
        yield from variants(alternative, sample(alternative))
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                yield {k: v for k, v in value.items() if k != name}
            for changed in variants(sub, value.get(name, sample(sub))):
                yield {**value, name: changed}
        yield {**value, "unexpected": 1}
    if isinstance(value, list) and value and isinstance(schema.get("items"), dict):
        for changed in variants(schema["items"], value[0]):
            yield [changed, *value[1:]]
        yield value + value


def valid_request(op: Operation) -> tuple[Wire, Any]:
    path_params, query = {}, {}
    for (location, name), where in op.parameters.items():
        value = sample(resolved(op.document, at(DOCUMENTS[op.document], where)["schema"]))
        if location == "path":
            path_params[name] = str(value)
        elif op.parameter(location, name).get("required"):
            query[name] = str(value)
    body = sample(resolved(op.document, at(DOCUMENTS[op.document], op.body_schema()))) if op.body else None
    wire = Wire(path_params, urlencode(query), None if body is None else json.dumps(body).encode())
    return wire, body


PARAMETER_TEXTS = ["", " ", "x", "null", "true", "\n", "%", "é", "0", "1", "-1", "2", "-0", "10", "1e2"]
PARAMETER_TEXTS += ["1.0", "1.5", "0x10", "1_0", "+5", " 5", "5 ", "007", "٣", "NaN", *UUIDS]


def keyword_requests(op: Operation) -> Iterator[Wire]:
    wire, body = valid_request(op)
    yield wire
    for (location, name), where in op.parameters.items():
        schema = resolved(op.document, at(DOCUMENTS[op.document], where)["schema"])
        texts = PARAMETER_TEXTS + [str(v) for v in candidates(schema) if not isinstance(v, (dict, list))]
        for text in texts:
            if location == "path":
                yield replace(wire, path_params={**wire.path_params, name: text})
            else:
                others = {k: v for k, v in wire.query_values().items() if k != name}
                yield replace(wire, query=urlencode({**others, name: text}, doseq=True))
        if location == "query":
            yield replace(wire, query=urlencode({name: ["1", "2"]}, doseq=True))
            yield replace(wire, query="")
    if op.body is None:
        return
    schema = resolved(op.document, at(DOCUMENTS[op.document], op.body_schema()))
    for changed in variants(schema, body):
        yield replace(wire, body=json.dumps(changed).encode())
    for raw in (None, b"", b"null", b"{", b"\xff\xfe", b"[]", b'"x"'):
        yield replace(wire, body=raw)
    yield replace(wire, content_type="text/plain")


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as runner:
        yield runner


@pytest.mark.parametrize("op", WITH_INPUT, ids=lambda op: op.operation_id)
def test_connexion_and_the_31_schema_agree_on_requests_made_keyword_by_keyword(op, runner):
    made = list(keyword_requests(op))
    assert all(contract_verdict(op, made[0]).values()), f"{op.label}: the request changed is not valid"
    verdicts, failures = [], []
    for wire in made:
        if known_gap(op, wire):
            continue
        verdicts.append(all(contract_verdict(op, wire).values()))
        if problem := disagreement(runner, op, wire):
            failures.append(problem)
    assert verdicts.count(True) >= 1 and verdicts.count(False) >= 10, "the requests made test too little"
    assert not failures, f"{len(failures)} of {len(verdicts)} disagree:\n" + "\n".join(failures[:10])


# Schemathesis's own cases, positive and negative, sent the way its default transport sends them.

SCHEMAS = {name: schemathesis.openapi.from_dict(document) for name, document in DOCUMENTS.items()}


def wire_of(op: Operation, case: Any) -> Wire | None:
    sent = case.as_transport_kwargs(base_url="http://mock")
    url = urlsplit(requests.Request("GET", sent["url"], params=sent.get("params")).prepare().url)
    template = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(op.path))
    routed = re.fullmatch(template, url.path)
    if routed is None:
        return None  # not routed to the operation: a routing answer (404), not validation
    path_params = {name: unquote(value) for name, value in routed.groupdict().items()}
    headers = {k.lower(): v for k, v in sent.get("headers", {}).items()}
    if "json" in sent:
        try:
            body: bytes | None = json.dumps(sent["json"], allow_nan=False).encode()
        except ValueError:
            return None  # not JSON: requests refuses to send it
    else:
        data = sent.get("data", sent.get("content"))
        body = data.encode() if isinstance(data, str) else data
    return Wire(path_params, url.query, body, headers.get("content-type"))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("op", WITH_INPUT, ids=lambda op: op.operation_id)
def test_connexion_and_the_31_schema_agree_on_schemathesis_cases(op, mode, runner):
    operation = SCHEMAS[op.document][op.path][op.method.upper()]
    failures: list[str] = []
    compared: list[Wire] = []

    @settings(
        max_examples=60,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def agree(case: Any) -> None:
        wire = wire_of(op, case)
        if wire is None or known_gap(op, wire):
            return
        compared.append(wire)
        if problem := disagreement(runner, op, wire):
            failures.append(problem)

    agree()
    assert len(compared) >= 10
    assert not failures, f"{len(failures)} disagree:\n" + "\n".join(failures[:10])


# What the comparison relies on, and the gaps it knows of.


def keywords(document: str, schema: Any, seen: set[int] | None = None) -> Iterator[tuple[str, Any]]:
    seen = set() if seen is None else seen
    if not isinstance(schema, dict) or id(schema) in seen:
        return
    seen.add(id(schema))
    for key, value in schema.items():
        yield key, value
    yield from keywords(document, deref(DOCUMENTS[document], schema) if "$ref" in schema else None, seen)
    for key in ("items", "not", "additionalProperties"):
        yield from keywords(document, schema.get(key), seen)
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            yield from keywords(document, sub, seen)
    for sub in schema.get("properties", {}).values():
        yield from keywords(document, sub, seen)


def request_schemas() -> Iterator[tuple[Operation, str, str]]:
    for op in (op for op in OPERATIONS if op.document in SERVED):
        for (location, name), where in op.parameters.items():
            yield op, f"{location}:{name}", where + "/schema"
        if op.body is not None:
            yield op, "body", op.body_schema()


def test_request_schemas_use_only_keywords_connexion_reads_as_the_31_contract_does():
    for op, part, where in request_schemas():
        for key, value in keywords(op.document, at(DOCUMENTS[op.document], where)):
            assert key in KEYWORDS_READ_ALIKE, f"{op.label} {part}: `{key}` needs a look first"
            if key == "format":
                assert value in FORMATS_READ_ALIKE, f"{op.label} {part}: format {value}"
            if key == "type" and part == "body":
                # Draft 4 refuses 1.0 as an integer, 2020-12 accepts it; parameters are read as text.
                assert "integer" not in value, f"{op.label} body: an integer needs a look first"
        if part.split(":")[0] in ("path", "query"):
            kind = at(DOCUMENTS[op.document], where).get("type")
            assert isinstance(kind, str), f"{op.label} {part}: a parameter of several types"
            assert kind in PARAMETER_TYPES_READ_ALIKE, f"{op.label} {part}: {kind} parameters"


def uuid_fields(document: str, schema: Any, prefix: str = "") -> Iterator[str]:
    schema = deref(DOCUMENTS[document], schema)
    if schema.get("format") == "uuid":
        yield prefix
    for name, sub in schema.get("properties", {}).items():
        yield from uuid_fields(document, sub, f"{prefix}/{name}")


def test_every_uuid_a_request_carries_is_checked_by_the_service_as_connexion_does_not():
    for op in OPERATIONS:
        declared = set()
        for (location, name), where in op.parameters.items():
            if at(DOCUMENTS[op.document], where)["schema"].get("format") == "uuid":
                declared.add(f"{location}:{name}")
        if op.body is not None:
            body = at(DOCUMENTS[op.document], op.body_schema())
            declared |= {f"body:{field}" for field in uuid_fields(op.document, body)}
        assert declared == UUID_CHECKED_BY_THE_SERVICE.get(op.operation_id, set()), op.label
    # Connexion's draft-4 format checker has no `uuid`, hence the service's checks.
    with asyncio.Runner() as runner:
        refusal = connexion("api").refusal("stopChat", Wire({"chatId": "not-a-uuid"}))
        assert runner.run(refusal) is None


OPERATION = {op.operation_id: op for op in OPERATIONS}
KNOWN_GAPS = [
    # Connexion reads the last of a repeated scalar query parameter; the contract sees two values.
    ("resumeChatStream", "query", "startIndex=1&startIndex=2"),
    # Connexion reads query integers with Python's int(); the contract reads JSON numbers.
    ("getJournal", "query", "limit=+5"),
    ("getJournal", "query", "limit=%205"),
    ("getJournal", "query", "limit=1_0"),
    ("getJournal", "query", "limit=007"),
    ("getJournal", "query", "limit=" + quote("٣")),
    ("getJournal", "query", "limit=1.0"),
]


@pytest.mark.parametrize(("operation_id", "part", "text"), KNOWN_GAPS)
def test_each_known_gap_is_still_open_and_is_all_the_comparisons_leave_out(operation_id, part, text, runner):
    op = OPERATION[operation_id]
    wire, _ = valid_request(op)
    if part == "query":
        wire = replace(wire, query=text)
    else:
        wire = replace(wire, path_params={**wire.path_params, part: text})
    assert known_gap(op, wire), "known_gap() would compare this request"
    assert disagreement(runner, op, wire), "the gap is closed: remove it from KNOWN_GAPS and known_gap()"
