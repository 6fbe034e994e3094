"""Pages for people: Swagger UI at `/ui` over the served documents, and the demo chat at `/demo`.

Swagger UI's files come from the `swagger-ui-py` package (Swagger UI 5, which renders OpenAPI 3.1;
the UI Connexion bundles is 4.x and cannot). Its copy of the contract lists this mock as its first
server, so "Try it out" calls the mock; `/openapi.json` itself stays the contract, unchanged.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response

from mock_server.domain.errors import NotFound
from mock_server.http.spec import Document

STATIC_DIR = Path(__file__).parent / "static"
UI_ASSETS = frozenset(
    {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "favicon-16x16.png",
        "favicon-32x32.png",
        "oauth2-redirect.html",
    }
)
DEMO_ASSETS = frozenset({"demo.js", "message.js", "chats.js", "demo.css"})


def swagger_ui_dir() -> Path:
    """Where `swagger-ui-py` keeps Swagger UI's files (found without importing the package)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def ui_document(document: Document, request: Request) -> Document:
    """The contract with this mock as its first server, for Swagger UI's "Try it out"."""
    origin = str(request.base_url).rstrip("/")
    servers = [{"url": origin, "description": "This mock"}, *document.get("servers", [])]
    return {**document, "servers": servers}


class Pages:
    def __init__(self, document: Document) -> None:
        self.document = document
        self.ui_dir = swagger_ui_dir()

    async def redirect_to_slash(self, request: Request) -> Response:
        return RedirectResponse(request.url.path + "/")

    async def ui_index(self, _request: Request) -> Response:
        return FileResponse(STATIC_DIR / "ui.html", media_type="text/html")

    async def ui_openapi(self, request: Request) -> Response:
        return JSONResponse(ui_document(self.document, request))

    async def ui_asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in UI_ASSETS:
            raise NotFound()
        return FileResponse(self.ui_dir / name)

    async def demo_index(self, _request: Request) -> Response:
        return FileResponse(STATIC_DIR / "demo.html", media_type="text/html")

    async def demo_asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in DEMO_ASSETS:
            raise NotFound()
        return FileResponse(STATIC_DIR / name)
