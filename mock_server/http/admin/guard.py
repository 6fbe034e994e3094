"""The admin API's guard: no web page, and no request sent through a rebound DNS name, reaches it.

The admin API (`/__mock`) shows every API key, every journalled request body, and replaces or
resets all state. A browser will send requests to a loopback port from any page it shows: a
"simple" `POST /__mock/reset` needs no preflight, and a page whose DNS name is rebound to 127.0.0.1
reads the answers as its own. So, before routing (the handler never runs), every `/__mock` request:

1. is 404 when the admin API is off (`--no-admin`);
2. passes if it is `GET /__mock/openapi.json`, the published document, which holds no data;
3. is 403 when it is cross-site: an `Origin` that is neither the mock's own (scheme://Host) nor one
   configured with `--admin-cors-origin`, or `Sec-Fetch-Site: cross-site` without such an origin;
4. with `--admin-token`, is 401 unless it sends `Authorization: Bearer TOKEN` or
   `x-mock-admin-token: TOKEN` (compared in constant time); with the token, any `Host` passes;
5. is 403 when its `Host` is not a loopback name or address (`localhost`, `127.x`, `[::1]`), the
   host the server listens on (`--host`, or the address ASGI reports: an IP, which no DNS rebinding
   can produce, or an in-process transport's name), or a name given with `--admin-host`.

Refusals are the contract's error body. CORS for the admin API is `cors.AdminCORS`, outside this
guard: it answers the preflights of configured origins only, and nothing else under `/__mock`.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Sequence
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from mock_server.http.error_body import error_body

TOKEN_HEADER = "x-mock-admin-token"
PUBLIC_DOCUMENT = "/openapi.json"
_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})
_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


def under(path: str, prefix: str) -> bool:
    """Whether `path` is `prefix` or below it (`/__mock/state`, not `/__mockery`)."""
    return path == prefix or path.startswith(prefix + "/")


def host_name(host: str) -> str:
    """The name or address of a `Host` value, without its port: `[::1]:4010` → `::1`."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def is_loopback(host: str) -> bool:
    """`localhost`, any 127.x address or ::1, with or without a port or brackets."""
    name = host_name(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _origin_key(origin: str) -> str:
    """An origin compared as browsers write it: lower case, without its scheme's default port."""
    origin = origin.strip().lower().rstrip("/")
    scheme, _, rest = origin.partition("://")
    port = _DEFAULT_PORTS.get(scheme)
    if port and rest.endswith(":" + port) and not rest.endswith("]"):
        rest = rest[: -len(port) - 1]
    return f"{scheme}://{rest}"


def _refusal(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(error_body(message)), status, headers=headers, media_type="application/json")


class AdminGuard:
    """Refuses `/__mock` requests from other sites, through rebound names, or without the token."""

    def __init__(
        self,
        app: ASGIApp,
        prefix: str,
        *,
        enabled: bool = True,
        token: str | None = None,
        origins: Sequence[str] = (),
        hosts: Sequence[str] = (),
        listen_host: str = "127.0.0.1",
    ) -> None:
        self.app = app
        self.prefix = prefix
        self.enabled = enabled
        self.token = token.encode() if token else None
        self.any_origin = "*" in origins
        self.origins = frozenset(_origin_key(o) for o in origins if o != "*")
        names = {host_name(h) for h in hosts}
        if listen_host not in _WILDCARD_HOSTS:
            names.add(host_name(listen_host))
        self.hosts = frozenset(names)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and under(scope["path"], self.prefix):
            refusal = self.refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> Response | None:
        """The answer to a `/__mock` request it refuses, or None when it may go on."""
        if not self.enabled:
            return _refusal(404, "Not found")
        if scope["method"] in ("GET", "HEAD") and scope["path"] == self.prefix + PUBLIC_DOCUMENT:
            return None
        headers = Headers(scope=scope)
        host = headers.get("host")
        cross_site = self.cross_site(scope, headers, host)
        if cross_site:
            return _refusal(403, f"{cross_site}; the admin API refuses other sites (see --admin-cors-origin)")
        if self.token is not None:
            if self.has_token(headers):
                return None
            return _refusal(
                401,
                f"The admin API needs its token: Authorization: Bearer <token> or {TOKEN_HEADER}",
                headers={"WWW-Authenticate": 'Bearer realm="recoup-mock admin API"'},
            )
        if host is not None and not self.is_allowed_host(host, scope):
            return _refusal(
                403,
                f"Host {host!r} is not a loopback name; the admin API refuses it "
                "(see --admin-host and --admin-token)",
            )
        return None

    def cross_site(self, scope: Scope, headers: Headers, host: str | None) -> str | None:
        """Why the request comes from another site, or None when it is same-origin or allowed."""
        own = _origin_key(f"{scope.get('scheme', 'http')}://{host}") if host else None
        origins = headers.getlist("origin")
        for origin in origins:
            key = _origin_key(origin)
            if key != own and not self.any_origin and key not in self.origins:
                return f"Origin {origin!r} is not this mock's"
        if headers.get("sec-fetch-site") == "cross-site" and not (
            origins and (self.any_origin or all(_origin_key(o) in self.origins for o in origins))
        ):
            return "A cross-site request (Sec-Fetch-Site: cross-site)"
        return None

    def has_token(self, headers: Headers) -> bool:
        assert self.token is not None
        sent: list[str] = headers.getlist(TOKEN_HEADER)
        for authorization in headers.getlist("authorization"):
            scheme, _, credentials = authorization.strip().partition(" ")
            if scheme.lower() == "bearer":
                sent.append(credentials.strip())
        # Every candidate is compared, so the time taken does not tell which header was close.
        matches = [hmac.compare_digest(value.encode(), self.token) for value in sent]
        return any(matches)

    def is_allowed_host(self, host: str, scope: Scope) -> bool:
        name = host_name(host)
        if is_loopback(name) or name in self.hosts:
            return True
        server: Any = scope.get("server")
        return bool(server) and name == host_name(str(server[0]))


def without_security(view: dict[str, Any]) -> dict[str, Any]:
    """The admin document for Connexion without its security requirements: the guard checks the
    token, before routing; the served document keeps them, for Swagger UI's Authorize."""
    view.pop("security", None)
    for item in view.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict):
                operation.pop("security", None)
    return view
