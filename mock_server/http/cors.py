"""CORS for browser apps served from another origin, as the running service answers it.

Preflights are answered here, before authentication and routing, so a browser can always learn what
it may send; every other response (errors included) gets the CORS headers on its way out, so the app
can read a 401 or a 504 as well as a 200. A refused preflight is an error body like any other.

The admin API (`/__mock`) is not the API: `CORS` leaves it alone, and `AdminCORS` answers for it only
the origins configured for it (`--admin-cors-origin`, none by default), so no other page is granted
anything there; `admin.guard` refuses the rest.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from mock_server.http.error_body import error_body

ANY_ORIGIN = "*"
ALLOWED_METHODS = ("GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")
ALLOWED_HEADERS = ("x-api-key", "authorization", "content-type", "prefer")
EXPOSED_HEADERS = (
    "x-workflow-run-id",
    "x-workflow-stream-tail-index",
    "x-vercel-ai-ui-message-stream",
    "preference-applied",
)
PREFLIGHT_MAX_AGE = 600
ADMIN_ALLOWED_HEADERS = ("authorization", "content-type", "x-mock-admin-token")


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


class CORS(CORSMiddleware):
    """Starlette's CORS middleware with the mock's policy and contract-shaped refusals."""

    def __init__(
        self,
        app: ASGIApp,
        origins: Sequence[str] = (ANY_ORIGIN,),
        except_under: str | None = None,
        headers: Sequence[str] = ALLOWED_HEADERS,
    ) -> None:
        self.except_under = except_under  # a path prefix (the admin API's) it does not answer for
        super().__init__(
            app,
            allow_origins=list(origins),
            allow_methods=ALLOWED_METHODS,
            allow_headers=headers,
            expose_headers=EXPOSED_HEADERS,
            # A page on a public host calling a mock on the developer's machine sends a
            # private-network preflight; a development mock accepts it.
            allow_private_network=True,
            max_age=PREFLIGHT_MAX_AGE,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Only a browser's cross-origin request carries Origin; anything else needs no CORS headers,
        # so it skips the wrapping of every message it sends (a load test's requests, for one).
        if scope["type"] == "http" and not any(name == b"origin" for name, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http" and self.except_under and _under(scope["path"], self.except_under):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code == 200:
            return response
        headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")}
        reason = bytes(response.body).decode()
        refusal = error_body(f"{reason} (preflight from {request_headers['origin']})")
        return Response(json.dumps(refusal), 400, headers=headers, media_type="application/json")


class AdminCORS(CORS):
    """CORS under the admin API's prefix, for its configured origins only.

    A request from any other origin passes untouched (no `Access-Control-Allow-*` header, no
    private-network allowance) to the admin guard, which refuses it.
    """

    def __init__(self, app: ASGIApp, origins: Sequence[str], prefix: str) -> None:
        super().__init__(app, origins, headers=ADMIN_ALLOWED_HEADERS)
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _under(scope["path"], self.prefix):
            origins = Headers(scope=scope).getlist("origin")
            if len(origins) == 1 and self.is_allowed_origin(origins[0]):
                await super().__call__(scope, receive, send)
                return
        await self.app(scope, receive, send)
