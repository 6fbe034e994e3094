"""Requests made keyword by keyword: a valid request, then one part of it changed at a time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from mock_server.http.spec import deref
from tests.alignment.operations import DOCUMENTS, Operation, at
from tests.alignment.wire import Wire


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
        branch = schema.get("anyOf", schema.get("oneOf"))[0]
        rest = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
        if "properties" not in rest:
            return sample(branch)
        # An object whose branches add requirements to its properties: the first branch, applied.
        properties = {
            name: {**rest["properties"].get(name, {}), **sub}
            for name, sub in {**rest["properties"], **branch.get("properties", {})}.items()
        }
        required = [*rest.get("required", []), *branch.get("required", [])]
        return sample({**rest, "properties": properties, "required": required})
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        names = schema.get("required") or list(schema.get("properties", {}))[: schema.get("minProperties", 0)]
        return {name: sample(schema["properties"][name]) for name in names}
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
