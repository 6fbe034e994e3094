"""The app factory: the served document, routed by Connexion to the handlers, errors in one format."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

from connexion import AsyncApp
from connexion.exceptions import ProblemException
from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolver
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from mock_server import errors, handlers
from mock_server.config import Config
from mock_server.runtime import SCOPE_KEY, Runtime
from mock_server.seed import DEMO_SEED, Seed
from mock_server.spec import Document, PathIndex, connexion_view, load_document

# The security functions Connexion calls, bound here so the served document names no Python code.
_SECURITY_FUNCTIONS = {
    "apiKey": ("x-apikeyInfoFunc", "mock_server.auth.account_from_api_key"),
    "http": ("x-bearerInfoFunc", "mock_server.auth.account_from_bearer"),
}


def handler_for(operation_id: str) -> Any:
    """`stopChat` → `handlers.stop_chat`."""
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()
    try:
        return getattr(handlers, name)
    except AttributeError:
        raise LookupError(f"no handler {name!r} for operationId {operation_id!r}") from None


def routed_view(document: Document) -> Document:
    view = connexion_view(document)
    for scheme in view.get("components", {}).get("securitySchemes", {}).values():
        key, function = _SECURITY_FUNCTIONS[scheme["type"]]
        scheme[key] = function
    return view


class RuntimeMiddleware:
    """Gives every request the runtime of its app, started on first use."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.runtime.start()
            scope[SCOPE_KEY] = self.runtime
        await self.app(scope, receive, send)


def create_app(config: Config | None = None, seed: Seed | None = None) -> AsyncApp:
    """A mock server app; `app.runtime` is its state (store, generations, service)."""
    runtime = Runtime(config or Config(), seed if seed is not None else DEMO_SEED)
    document = load_document()

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.close()

    app = AsyncApp(__name__, lifespan=lifespan)
    app.add_api(
        routed_view(document),
        resolver=Resolver(function_resolver=handler_for),
        pythonic_params=True,
        swagger_ui_options=SwaggerUIOptions(serve_spec=False, swagger_ui=False),
    )

    async def openapi_json(_request: Request) -> JSONResponse:
        return JSONResponse(document)

    app.add_url_rule("/openapi.json", "openapi_json", openapi_json, methods=["GET"])
    app.add_middleware(RuntimeMiddleware, MiddlewarePosition.BEFORE_EXCEPTION, runtime=runtime)
    app.add_error_handler(errors.MockError, errors.render_mock_error)
    app.add_error_handler(ProblemException, errors.render_problem)
    app.add_error_handler(HTTPException, errors.http_exception_renderer(PathIndex(document).methods))
    app.add_error_handler(UnicodeDecodeError, errors.render_undecodable_body)
    app.add_error_handler(Exception, errors.render_unexpected)
    app.runtime = runtime  # type: ignore[attr-defined]
    return app
