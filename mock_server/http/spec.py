"""The served OpenAPI 3.1 document, and the 3.0 view of it that Connexion 3 can route.

Connexion 3.3 validates every document against its bundled OpenAPI 3.0 meta-schema and refuses
3.1. Clients are always served the 3.1 document unchanged (`load_document`); Connexion is given
`connexion_view`, a copy in which 3.1-only schema keywords are rewritten to their 3.0 equivalents.
Connexion validates requests with draft-4 JSON Schema on that view, so each rewrite is chosen to make
draft 4 accept exactly what 2020-12 accepts on the original (tests/test_validation_alignment.py shows
it), and a keyword with no draft-4 spelling is refused rather than silently ignored. This goes through
Connexion's public `add_api(dict)` only, so an upgrade that learns 3.1 needs nothing but dropping the
view.
"""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path
from typing import Any

import yaml

# Where the wheel puts `openapi/` (pyproject.toml, `force-include`); a source tree has it at the root.
_PACKAGED = Path(__file__).parents[1] / "_openapi"
_SOURCE_TREE = Path(__file__).parents[2] / "openapi"
SPEC_DIR = _PACKAGED if _PACKAGED.is_dir() else _SOURCE_TREE
SPEC_PATH = SPEC_DIR / "recoup-chat.yaml"
ADMIN_SPEC_PATH = SPEC_DIR / "admin.yaml"
UPSTREAM_SPEC_PATH = SPEC_DIR / "upstream" / "stop-chat.yaml"

Document = dict[str, Any]


def read_yaml(path: Path) -> Document:
    with path.open(encoding="utf-8") as fh:
        document = yaml.safe_load(fh)
    if not isinstance(document, dict):
        raise ValueError(f"{path}: not an OpenAPI document (a YAML mapping)")
    return document


@functools.cache
def _cached_document(path: Path) -> Document:
    return read_yaml(path)


def load_document(path: Path = SPEC_PATH) -> Document:
    """The served 3.1 document (a fresh copy, so callers may not corrupt the cache)."""
    return copy.deepcopy(_cached_document(path))


def deref(document: Document, node: Any) -> Any:
    """`node`, or what its local `$ref` (`#/components/...`) points to, followed to the end."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def connexion_view(document: Document) -> Document:
    """A 3.0.3 rendering of a 3.1 `document` with the same paths, operations and schemas."""
    view = copy.deepcopy(document)
    view["openapi"] = "3.0.3"
    for key in ("webhooks", "jsonSchemaDialect"):
        view.pop(key, None)
    info = view.get("info", {})
    info.pop("summary", None)
    info.get("license", {}).pop("identifier", None)
    view.get("components", {}).pop("pathItems", None)
    _rewrite_schemas(view)
    return view


def _rewrite_schemas(node: Any) -> None:
    """Find every schema position in the document (under `schema` or `components.schemas`)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "schema":
                _downgrade_schema(value)
            elif key == "schemas" and isinstance(value, dict):
                for schema in value.values():
                    _downgrade_schema(schema)
            else:
                _rewrite_schemas(value)
    elif isinstance(node, list):
        for item in node:
            _rewrite_schemas(item)


_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SUBSCHEMA_SINGLE = ("items", "not", "additionalProperties")
_SUBSCHEMA_MAPS = ("properties", "patternProperties")
# 3.1 (JSON Schema 2020-12) keywords that assert something and have no draft-4 spelling a 3.0 document
# can carry. Connexion's draft-4 validator would silently ignore them, accepting what the contract
# forbids, so the view refuses them instead.
_NO_DRAFT4_EQUIVALENT = frozenset(
    {
        "prefixItems",
        "unevaluatedItems",
        "unevaluatedProperties",
        "dependentRequired",
        "dependentSchemas",
        "if",
        "then",
        "else",
        "contains",
        "minContains",
        "maxContains",
        "propertyNames",
        "$defs",
        "$id",
        "$anchor",
        "$dynamicRef",
        "$dynamicAnchor",
    }
)
# Siblings of `$ref` that only annotate: 3.1 applies a `$ref`'s siblings, Connexion merges them into
# the target (the target winning), so any other sibling needs an explicit `allOf`.
_ANNOTATIONS = frozenset({"description", "summary", "title", "example", "examples", "deprecated"})


# What a string's content is: 2020-12 annotations that no validator asserts by default (the contract
# suite checks stream chunks against `contentSchema` itself), and that 3.0 has no place for.
_CONTENT_ANNOTATIONS = ("contentMediaType", "contentEncoding", "contentSchema")


def _only_null() -> dict[str, Any]:
    """The 3.0 spelling of `type: null`: 3.0 has no `null` type, and Connexion reads `nullable` only
    next to `type` or `enum` (so `anyOf: [X], nullable: true` would still refuse null)."""
    return {"nullable": True, "enum": [None]}


def _downgrade_schema(schema: Any) -> None:
    """Rewrite one 3.1 schema, in place, so Connexion's draft-4 validator accepts exactly what it does."""
    if not isinstance(schema, dict):
        return
    refused = _NO_DRAFT4_EQUIVALENT & schema.keys()
    if refused:
        raise ValueError(f"no OpenAPI 3.0 equivalent for {sorted(refused)} in schema {schema}")
    if "$ref" in schema and schema.keys() - {"$ref"} - _ANNOTATIONS:
        schema.setdefault("allOf", []).insert(0, {"$ref": schema.pop("$ref")})
    if "const" in schema:
        schema["enum"] = [schema.pop("const")]
    for annotation in _CONTENT_ANNOTATIONS:
        schema.pop(annotation, None)
    _downgrade_type(schema)
    if isinstance(schema.get("examples"), list):
        examples = schema.pop("examples")
        if examples:
            schema.setdefault("example", examples[0])
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        value = schema.get(exclusive)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if bound in schema:  # 3.1 allows both bounds at once; draft 4 has one per side
                del schema[exclusive]
                schema.setdefault("allOf", []).append({bound: value, exclusive: True})
            else:
                schema[bound] = value
                schema[exclusive] = True
    for key in _SUBSCHEMA_LISTS:
        for sub in schema.get(key, []):
            _downgrade_schema(sub)
    for key in _SUBSCHEMA_SINGLE:
        _downgrade_schema(schema.get(key))
    for key in _SUBSCHEMA_MAPS:
        for sub in schema.get(key, {}).values():
            _downgrade_schema(sub)


def _downgrade_type(schema: dict[str, Any]) -> None:
    """`type: null` and type lists, which 3.0 cannot spell, as `type`, `nullable`, `enum` and `anyOf`."""
    types = schema.get("type")
    if types == "null" or types == ["null"]:
        del schema["type"]
        schema.update(_only_null())
        return
    if not isinstance(types, list):
        return
    non_null = [t for t in types if t != "null"]
    allows_null = len(non_null) < len(types)
    if len(non_null) == 1:
        schema["type"] = non_null[0]
        # A `nullable` enum accepts null in Connexion; in 3.1 the enum must list it too.
        if allows_null and None in schema.get("enum", [None]):
            schema["nullable"] = True
        return
    del schema["type"]
    alternatives: list[Any] = [{"type": t} for t in non_null]
    if allows_null:
        alternatives.append(_only_null())
    if "anyOf" in schema:
        schema.setdefault("allOf", []).append({"anyOf": alternatives})
    else:
        schema["anyOf"] = alternatives


_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class PathIndex:
    """Which methods the document defines for a concrete request path (for `Allow` on 405)."""

    def __init__(self, document: Document) -> None:
        self._paths = [
            (re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)) + "$"), item)
            for template, item in document.get("paths", {}).items()
        ]

    def methods(self, path: str) -> list[str]:
        for pattern, item in self._paths:
            if pattern.match(path):
                return [m.upper() for m in _HTTP_METHODS if m in item]
        return []
