"""The app factory: the served document, routed by Connexion to the handlers, errors in one format.

Around the contract's API: CORS, the request journal, chosen responses (`Prefer`) and latency, the
admin API under `/__mock` with its own document, Swagger UI at `/ui` and the demo page at `/demo`.
Outermost first, the stack is: journal, CORS, runtime, Connexion's errors, routing, chosen
responses, security, validation, the journal's validation mark, the security of the operations
whose body is checked first (`reading`), handlers; so preflights are answered before credentials
are asked for, error responses carry CORS headers, and the journal sees every answer. Between
CORS and runtime, the admin API's own CORS (configured origins only) and
its guard (`admin.guard`) refuse other sites, rebound hosts and missing tokens before anything runs.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import ModuleType
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

from mock_server.config import Config
from mock_server.domain.demo import DEMO_SEED
from mock_server.domain.errors import DomainError
from mock_server.domain.seed import Seed
from mock_server.domain.store import ChatStore
from mock_server.http import admin, errors, handlers, prepared
from mock_server.http.admin.guard import AdminGuard, without_security
from mock_server.http.cors import CORS, AdminCORS
from mock_server.http.journal import JournalMiddleware, PassedValidation
from mock_server.http.limits import BodyLimit
from mock_server.http.media import PlainTextIsJson
from mock_server.http.pages import Pages
from mock_server.http.prefer import ChosenResponses
from mock_server.http.reading import ReadAsEmpty, Reading, readings, without_credentials_first
from mock_server.http.runtime import CURRENT_RUNTIME, SCOPE_KEY, Runtime
from mock_server.http.spec import ADMIN_SPEC_PATH, Document, PathIndex, connexion_view, load_document

# The security functions Connexion calls, bound here so the served document names no Python code.
_SECURITY_FUNCTIONS = {
    "apiKey": ("x-apikeyInfoFunc", "mock_server.http.auth.account_from_api_key"),
    "http": ("x-bearerInfoFunc", "mock_server.http.auth.account_from_bearer"),
}


def handler_for(operation_id: str, module: ModuleType = handlers) -> Any:
    """The function of `module` named after `operation_id`: `stopChat` → `handlers.stop_chat`."""
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()
    try:
        return getattr(module, name)
    except AttributeError:
        raise LookupError(f"no handler {name!r} for operationId {operation_id!r}") from None


def routed_view(document: Document) -> tuple[Document, dict[str, Any]]:
    """Connexion's view of `document`, with the security functions bound, and the security
    requirements of the operations whose credentials are checked after their body."""
    view = connexion_view(document)
    for scheme in view.get("components", {}).get("securitySchemes", {}).values():
        key, function = _SECURITY_FUNCTIONS[scheme["type"]]
        scheme[key] = function
    body_first = {op for op, reading in readings(document).items() if reading.body_before_credentials}
    return view, without_credentials_first(view, body_first)


class RuntimeMiddleware:
    """Gives every request the runtime of its app, started on first use."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.runtime.start()
        scope[SCOPE_KEY] = self.runtime
        token = CURRENT_RUNTIME.set(self.runtime)
        try:
            await self.app(scope, receive, send)
        finally:
            CURRENT_RUNTIME.reset(token)


class EscapeNewlinesInPath:
    """Routes a path whose parameter holds a decoded newline to its operation.

    Connexion mounts the API with Starlette's `Mount`, whose `{path:path}` pattern is `.*`: it stops
    at a newline, so `POST /api/chat/%0A/stop` would be a routing 404 where the service answers the
    operation's own 400. No valid id contains a newline, so escaping it loses nothing.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "\n" in scope["path"]:
            scope = {**scope, "path": scope["path"].replace("\n", "%0A")}
        await self.app(scope, receive, send)


def _all_paths(document: Document, admin_document: Document) -> Document:
    """Both documents' paths under their base paths, for the `Allow` header of a 405."""
    admin_paths = {admin.PREFIX + path: item for path, item in admin_document.get("paths", {}).items()}
    return {"paths": {**document.get("paths", {}), **admin_paths}}


class MockApp(AsyncApp):  # type: ignore[misc]  # Connexion ships no type information
    """The mock's Connexion app, with its state: `runtime.service` and `runtime.journal`."""

    runtime: Runtime


@dataclass(frozen=True)
class _Documents:
    """The served documents and what is read off them once, at start-up."""

    document: Document
    admin_document: Document
    routed: Document
    """Connexion's view of `document`, its security functions bound (`routed_view`)."""
    credentials_after_body: dict[str, Any]
    how_read: dict[str, Reading]

    @classmethod
    def load(cls) -> _Documents:
        document = load_document()
        routed, credentials_after_body = routed_view(document)
        return cls(
            document, load_document(ADMIN_SPEC_PATH), routed, credentials_after_body, readings(document)
        )


def create_app(
    config: Config | None = None, seed: Seed | None = None, store: ChatStore | None = None
) -> MockApp:
    """A mock server app over `store` (a new in-memory store by default), loaded with `seed`."""
    config = config or Config()
    runtime = Runtime(config, seed if seed is not None else DEMO_SEED, store)
    documents = _Documents.load()
    app = _connexion_app(config, runtime, documents)
    _add_apis(app, documents)
    _add_pages(app, documents)
    _add_outer_layers(app, config, runtime, documents.document)
    _add_error_handlers(app, documents)
    return app


def _connexion_app(config: Config, runtime: Runtime, documents: _Documents) -> MockApp:
    """Connexion's app with its layers prepared once (`prepared`) and the mock's own between them."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.close()

    app = MockApp(
        __name__,
        lifespan=lifespan,
        middlewares=prepared.middlewares(
            documents.credentials_after_body,
            before_validation=[
                functools.partial(BodyLimit, max_bytes=config.max_body_bytes),
                functools.partial(PlainTextIsJson, except_under=admin.PREFIX),
                functools.partial(ReadAsEmpty, readings=documents.how_read),
            ],
            validated=[PassedValidation],
        ),
        security_map=prepared.SECURITY_MAP,
        validator_map=prepared.VALIDATOR_MAP_PREPARED,
    )
    prepared.use_prepared_operations(app._middleware_app)
    app.runtime = runtime
    return app


def _add_apis(app: MockApp, documents: _Documents) -> None:
    """The contract's operations, and the admin API's under its prefix, each to its handler."""
    app.add_api(
        documents.routed,
        resolver=Resolver(function_resolver=handler_for),
        pythonic_params=True,
        swagger_ui_options=SwaggerUIOptions(serve_spec=False, swagger_ui=False),
    )
    app.add_api(
        without_security(connexion_view(documents.admin_document)),
        base_path=admin.PREFIX,
        resolver=Resolver(function_resolver=functools.partial(handler_for, module=admin.handlers)),
        pythonic_params=True,
        swagger_ui_options=SwaggerUIOptions(serve_spec=False, swagger_ui=False),
    )


def _add_pages(app: MockApp, documents: _Documents) -> None:
    """Both documents as JSON, Swagger UI at `/ui` and the demo page at `/demo`."""

    async def openapi_json(_request: Request) -> JSONResponse:
        return JSONResponse(documents.document)

    async def admin_openapi_json(_request: Request) -> JSONResponse:
        return JSONResponse(documents.admin_document)

    pages = Pages(documents.document)
    routes = [
        ("/openapi.json", openapi_json),
        (f"{admin.PREFIX}/openapi.json", admin_openapi_json),
        ("/ui", pages.redirect_to_slash),
        ("/ui/", pages.ui_index),
        ("/ui/openapi.json", pages.ui_openapi),
        ("/ui/{name}", pages.ui_asset),
        ("/demo", pages.redirect_to_slash),
        ("/demo/", pages.demo_index),
        ("/demo/{name}", pages.demo_asset),
    ]
    for rule, view in routes:
        app.add_url_rule(rule, rule, view, methods=["GET"])


def _add_outer_layers(app: MockApp, config: Config, runtime: Runtime, document: Document) -> None:
    """The layers around Connexion's, in the order of the module's docstring."""
    # Added outermost first (each BEFORE_EXCEPTION middleware lands inside the previous one).
    if config.journal_size > 0:
        app.add_middleware(
            JournalMiddleware,
            MiddlewarePosition.BEFORE_EXCEPTION,
            journal=runtime.journal,
            exclude_prefix=admin.PREFIX,
        )
    app.add_middleware(
        CORS, MiddlewarePosition.BEFORE_EXCEPTION, origins=config.cors_origins, except_under=admin.PREFIX
    )
    if config.admin_enabled and config.admin_cors_origins:
        app.add_middleware(
            AdminCORS,
            MiddlewarePosition.BEFORE_EXCEPTION,
            origins=config.admin_cors_origins,
            prefix=admin.PREFIX,
        )
    app.add_middleware(
        AdminGuard,
        MiddlewarePosition.BEFORE_EXCEPTION,
        prefix=admin.PREFIX,
        enabled=config.admin_enabled,
        token=config.admin_token,
        origins=config.admin_cors_origins,
        hosts=config.admin_hosts,
        listen_host=config.host,
    )
    app.add_middleware(RuntimeMiddleware, MiddlewarePosition.BEFORE_EXCEPTION, runtime=runtime)
    app.add_middleware(EscapeNewlinesInPath, MiddlewarePosition.BEFORE_EXCEPTION)
    app.add_middleware(
        ChosenResponses, MiddlewarePosition.BEFORE_SECURITY, document=document, latency=config.latency
    )


def _add_error_handlers(app: MockApp, documents: _Documents) -> None:
    """Every error a request can raise, rendered as the contract's body (`errors`)."""
    app.add_error_handler(DomainError, errors.render_domain_error)
    app.add_error_handler(ProblemException, errors.problem_renderer(documents.how_read))
    all_paths = PathIndex(_all_paths(documents.document, documents.admin_document))
    app.add_error_handler(HTTPException, errors.http_exception_renderer(all_paths.methods))
    app.add_error_handler(UnicodeDecodeError, errors.render_undecodable_body)
    app.add_error_handler(Exception, errors.render_unexpected)
