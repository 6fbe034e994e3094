"""Credentials as the running service takes them: exactly one of `x-api-key` or a Bearer key.

Connexion calls these functions (named by the security schemes of the routed document) with the
credential it found; each returns the token info Connexion puts in the handler's `context_`.
"""

from __future__ import annotations

from typing import Any

from connexion.lifecycle import ConnexionRequest

from mock_server.domain.errors import NotExactlyOneCredential
from mock_server.domain.models import Account
from mock_server.http.runtime import runtime_of

API_KEY_HEADER = "x-api-key"


async def account_from_api_key(api_key: str, request: ConnexionRequest) -> dict[str, Any]:
    return await _account(request, api_key)


async def account_from_bearer(token: str, request: ConnexionRequest) -> dict[str, Any]:
    return await _account(request, token)


async def _account(request: ConnexionRequest, key: str) -> dict[str, Any]:
    if API_KEY_HEADER in request.headers and "authorization" in request.headers:
        raise NotExactlyOneCredential()
    account = await runtime_of(request.scope).service.authenticate(key)
    return {"sub": account.id, "account": account}


def account_in(context: dict[str, Any]) -> Account:
    """The authenticated account of a handler's Connexion `context_`."""
    account = context["token_info"]["account"]
    assert isinstance(account, Account)
    return account
