"""What the validation-alignment comparison relies on: the served request schemas use only keywords,
formats and parameter types that Connexion's draft-4 reading treats as the 3.1 contract does, and every
UUID a request carries is checked by the service, since Connexion does not check `format: uuid`.

A new keyword in a request schema turns these tests red until `tests/test_validation_alignment.py`
shows Connexion and the contract read it alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from mock_server.http.spec import deref
from tests.alignment.mock import UUID_CHECKED_BY_THE_SERVICE, connexion
from tests.alignment.operations import DOCUMENTS, OPERATIONS, SERVED, Operation, at
from tests.alignment.wire import Wire

# Keywords of request schemas whose draft-4 reading (after `connexion_view`) is the 2020-12 one, as
# the alignment tests show. Another keyword in a request schema needs its own look first. `pattern`
# is read alike by Connexion and the contract's validator (both Python's `re`); it is used only as
# `\S`, "not blank", which is what the service's `trim()` checks, and as zod 4's UUID, made of hex
# digit classes that ECMA-262 and `re` read alike (they disagree on `\d`, so another pattern needs
# its own look). `x-recoup-error` is the mock's message for a refusal; no validator reads it.
KEYWORDS_READ_ALIKE = {
    "$ref", "type", "enum", "const", "required", "properties", "additionalProperties", "items",
    "minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "anyOf", "oneOf", "allOf", "not", "format", "default", "multipleOf",
    "minProperties", "pattern",
    "description", "title", "example", "examples", "x-recoup-error",
}  # fmt: skip
PATTERNS_READ_ALIKE = {
    r"\S",
    "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}"
    "|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$",
}
FORMATS_READ_ALIKE = {"uuid"}  # with the service's check
PARAMETER_TYPES_READ_ALIKE = {"string", "integer"}  # how `contract_reading` reads query text


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
            if key == "pattern":
                assert value in PATTERNS_READ_ALIKE, f"{op.label} {part}: pattern {value}"
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
