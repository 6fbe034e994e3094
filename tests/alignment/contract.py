"""The contract's verdict on a request: `Draft202012Validator` on the 3.1 schemas.

`uuid` is checked as RFC 9562 spells it (and as Schemathesis's validator checks it); a `form`/`simple`
parameter's text is read as the JSON value it stands for (`contract_reading`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.alignment.operations import DOCUMENTS, JSON, Operation
from tests.alignment.wire import Wire


def strict_uuid(value: object) -> bool:
    pattern = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    return not isinstance(value, str) or re.fullmatch(pattern, value) is not None


UUID_FORMAT = FormatChecker(formats=())
UUID_FORMAT.checks("uuid")(strict_uuid)

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
