"""Swagger UI at /ui over the served documents, and the demo page at /demo."""

from __future__ import annotations

import httpx

from mock_server.cli import build_parser
from mock_server.http.spec import load_document


async def test_swagger_ui_is_served_with_its_assets(raw: httpx.AsyncClient):
    assert (await raw.get("/ui")).headers["location"].endswith("/ui/")
    page = await raw.get("/ui/")
    assert page.status_code == 200
    assert "swagger-ui-bundle.js" in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
        assert (await raw.get(f"/ui/{asset}")).status_code == 200
    assert (await raw.get("/ui/../pyproject.toml")).status_code == 404
    assert (await raw.get("/ui/swagger-editor.js")).status_code == 404


async def test_swagger_ui_document_is_the_contract_with_the_mock_as_first_server(raw: httpx.AsyncClient):
    served = (await raw.get("/ui/openapi.json")).json()
    contract = load_document()
    assert served["servers"][0] == {"url": "http://mock", "description": "This mock"}
    assert served["servers"][1:] == contract["servers"]
    assert {k: v for k, v in served.items() if k != "servers"} == {
        k: v for k, v in contract.items() if k != "servers"
    }
    assert set(served["components"]["securitySchemes"]) == {"apiKeyAuth", "bearerAuth"}


async def test_demo_page_is_served(raw: httpx.AsyncClient):
    assert (await raw.get("/demo")).headers["location"].endswith("/demo/")
    page = await raw.get("/demo/")
    assert page.status_code == 200
    assert '<script src="demo.js">' in page.text
    assert (
        (await raw.get("/demo/demo.js"))
        .headers["content-type"]
        .startswith(("application/javascript", "text/javascript"))
    )


def test_serve_help_lists_the_frontend_options():
    serve = build_parser()._subparsers._group_actions[0].choices["serve"]
    text = serve.format_help()
    for flag in ("--cors-origin", "--latency", "--stop-timeout", "--journal-size"):
        assert flag in text


def test_cors_origin_is_repeatable_and_validated():
    args = build_parser().parse_args(
        ["serve", "--cors-origin", "http://localhost:3000", "--cors-origin", "https://app.example/"]
    )
    assert args.cors_origins == ["http://localhost:3000", "https://app.example"]
    assert not hasattr(build_parser().parse_args(["serve"]), "cors_origins")
