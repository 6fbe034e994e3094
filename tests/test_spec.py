"""The served document: valid 3.1, routable by Connexion, and a faithful superset of the upstream."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

from contract_tests.client import RecoupClient
from mock_server.domain.models import SESSION_STATUSES
from mock_server.http import admin, handlers
from mock_server.http.app import handler_for
from mock_server.http.reading import readings
from mock_server.http.spec import (
    ADMIN_SPEC_PATH,
    UPSTREAM_SPEC_PATH,
    connexion_view,
    deref,
    load_document,
    read_yaml,
)

SERVED = load_document()
UPSTREAM = read_yaml(UPSTREAM_SPEC_PATH)
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def resolve(document: dict[str, Any], node: Any) -> Any:
    """`node` with every local `$ref` replaced by its target (the documents have no cycles)."""
    node = deref(document, node)
    if isinstance(node, dict):
        return {k: resolve(document, v) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(document, v) for v in node]
    return node


def assert_compatible(upstream: dict[str, Any], served: dict[str, Any], where: str) -> None:
    """Every value valid for `served` is valid for `upstream` on the keywords upstream uses."""
    for keyword in ("type", "format"):
        if keyword in upstream:
            assert served.get(keyword) == upstream[keyword], f"{where}: {keyword} differs"
    if "enum" in upstream:
        assert set(served.get("enum", [])) <= set(upstream["enum"]), f"{where}: enum widened"
    missing = set(upstream.get("required", [])) - set(served.get("required", []))
    assert not missing, f"{where}: no longer requires {sorted(missing)}"
    for name, schema in upstream.get("properties", {}).items():
        assert name in served.get("properties", {}), f"{where}: property {name} missing"
        assert_compatible(schema, served["properties"][name], f"{where}.{name}")


def operations(document: dict[str, Any]):
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def test_served_document_is_valid_openapi_3_1():
    assert SERVED["openapi"].startswith("3.1")
    OpenAPIV31SpecValidator(SERVED).validate()


def test_connexion_view_is_valid_openapi_3_0():
    OpenAPIV30SpecValidator(connexion_view(SERVED)).validate()


def test_connexion_view_keeps_every_operation_and_schema():
    view = connexion_view(SERVED)
    assert list(operations(view)) != []
    assert [(p, m) for p, m, _ in operations(view)] == [(p, m) for p, m, _ in operations(SERVED)]
    assert view["components"]["schemas"].keys() == SERVED["components"]["schemas"].keys()


def test_connexion_view_rewrites_3_1_keywords():
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "t",
            "version": "1",
            "summary": "s",
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "paths": {},
        "webhooks": {},
        "components": {
            "schemas": {
                "A": {
                    "type": "object",
                    "properties": {
                        "nullable": {"type": ["string", "null"]},
                        "either": {"type": ["string", "integer"]},
                        "fixed": {"const": "x"},
                        "sample": {"type": "string", "examples": ["a", "b"]},
                        "above": {"type": "integer", "exclusiveMinimum": 0},
                        "list": {"type": "array", "items": {"type": ["integer", "null"]}},
                    },
                }
            }
        },
    }
    view = connexion_view(document)
    props = view["components"]["schemas"]["A"]["properties"]
    assert props["nullable"] == {"type": "string", "nullable": True}
    assert props["either"] == {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    assert props["fixed"] == {"enum": ["x"]}
    assert props["sample"] == {"type": "string", "example": "a"}
    assert props["above"] == {"type": "integer", "minimum": 0, "exclusiveMinimum": True}
    assert props["list"]["items"] == {"type": "integer", "nullable": True}
    assert "webhooks" not in view and "summary" not in view["info"]
    OpenAPIV30SpecValidator(view).validate()
    assert document["components"]["schemas"]["A"]["properties"]["fixed"] == {"const": "x"}


@pytest.mark.parametrize(
    ("document", "module"), [(SERVED, handlers), (load_document(ADMIN_SPEC_PATH), admin.handlers)]
)
def test_every_operation_has_an_operation_id_and_a_handler(document, module):
    for path, method, operation in operations(document):
        assert "operationId" in operation, f"{method.upper()} {path}"
        assert callable(handler_for(operation["operationId"], module))


def test_served_document_contains_the_upstream_contract():
    for path, method, upstream_op in operations(UPSTREAM):
        served_op = SERVED["paths"].get(path, {}).get(method)
        assert served_op is not None, f"{method.upper()} {path} missing"
        upstream_op, served_op = resolve(UPSTREAM, upstream_op), resolve(SERVED, served_op)
        served_params = {(p["name"], p["in"]): p for p in served_op.get("parameters", [])}
        for param in upstream_op.get("parameters", []):
            key = (param["name"], param["in"])
            assert key in served_params, f"parameter {key} missing"
            assert served_params[key].get("required") == param.get("required")
            assert_compatible(param["schema"], served_params[key]["schema"], f"parameter {key}")
        for status, response in upstream_op["responses"].items():
            assert status in served_op["responses"], f"{path}: status {status} missing"
            for media, content in response.get("content", {}).items():
                served_content = served_op["responses"][status].get("content", {})
                assert media in served_content, f"{path} {status}: {media} missing"
                assert_compatible(
                    content["schema"], served_content[media]["schema"], f"{path} {status} {media}"
                )
        assert served_op["security"][0] == upstream_op["security"][0]
    for name, scheme in UPSTREAM["components"]["securitySchemes"].items():
        assert SERVED["components"]["securitySchemes"][name] == scheme


def test_upstream_compatibility_check_detects_a_drift():
    upstream = resolve(UPSTREAM, UPSTREAM["components"]["schemas"]["StopChatResponse"])
    drifted = {**upstream, "required": ["success"]}
    with pytest.raises(AssertionError, match="no longer requires"):
        assert_compatible(upstream, drifted, "StopChatResponse")


async def test_openapi_json_serves_the_3_1_document(api: RecoupClient):
    response = await api.http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == SERVED


@pytest.mark.parametrize("keyword", ["prefixItems", "unevaluatedProperties", "dependentRequired", "$defs"])
def test_connexion_view_refuses_a_keyword_draft_4_would_ignore(keyword):
    document = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {},
        "components": {"schemas": {"A": {"type": "object", "properties": {"b": {keyword: {}}}}}},
    }
    with pytest.raises(ValueError, match=re.escape(keyword)):
        connexion_view(document)


def test_connexion_view_spells_null_and_ref_siblings_so_connexion_reads_them_as_3_1_does():
    schemas = {
        "Letter": {"type": "string", "enum": ["a", "b"]},
        "A": {
            "properties": {
                "choice": {"anyOf": [{"$ref": "#/components/schemas/Letter"}, {"type": "null"}]},
                "letter": {"type": ["string", "null"], "enum": ["a"]},
                "narrowed": {"$ref": "#/components/schemas/Letter", "enum": ["a"], "description": "d"},
                "between": {"type": "number", "minimum": 3, "exclusiveMinimum": 2},
            }
        },
    }
    document = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {}}
    props = connexion_view({**document, "components": {"schemas": schemas}})["components"]["schemas"]["A"]
    props = props["properties"]
    assert props["choice"]["anyOf"][1] == {"nullable": True, "enum": [None]}
    assert props["letter"] == {"type": "string", "enum": ["a"]}
    assert props["narrowed"] == {
        "allOf": [{"$ref": "#/components/schemas/Letter"}],
        "enum": ["a"],
        "description": "d",
    }
    assert props["between"] == {
        "type": "number",
        "minimum": 3,
        "allOf": [{"minimum": 2, "exclusiveMinimum": True}],
    }


def test_an_installed_wheel_finds_the_documents_where_it_packs_them():
    import tomllib
    from pathlib import Path

    import mock_server
    from mock_server.http import spec

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    packed = project["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]["openapi"]
    assert packed.startswith("mock_server/")
    assert Path(mock_server.__file__).parent / packed.removeprefix("mock_server/") == spec._PACKAGED


def test_the_session_statuses_the_domain_takes_are_the_documents():
    statuses = load_document()["components"]["schemas"]["UpdateSessionRequest"]["properties"]["status"]
    assert tuple(statuses["enum"]) == SESSION_STATUSES


def test_every_request_reading_the_document_declares_is_one_the_mock_reads():
    declared = readings(load_document())
    assert {op for op, r in declared.items() if r.body_before_credentials} == {
        "sendChatMessage",
        "startChatRun",
        "createSession",
    }
    assert declared["createSessionChat"].refused_body == {"error": "Invalid chat id"}
    with pytest.raises(ValueError, match="cannot be read"):
        operation = {"operationId": "x", "x-recoup-request": {"credentials": "never"}}
        readings({"paths": {"/x": {"post": operation}}})
