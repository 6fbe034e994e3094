"""The mock's verdict on a request: Connexion's request validation, then the service's UUID checks.

Connexion's verdict is its `RequestValidationOperation` (the code the app runs, with the app's options)
on the 3.0 view of a document. Then comes the one check the service makes in Connexion's place:
`format: uuid`, which Connexion's draft-4 format checker does not know, so `require_uuid` answers 400
from the service (`UUID_CHECKED_BY_THE_SERVICE`).
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

from connexion.exceptions import ProblemException
from connexion.middleware.request_validation import RequestValidationAPI
from connexion.resolver import Resolver
from connexion.spec import Specification

from mock_server.domain.models import is_uuid
from mock_server.http.prepared import VALIDATOR_MAP_PREPARED
from mock_server.http.spec import Document, connexion_view
from tests.alignment.operations import DOCUMENTS, Operation
from tests.alignment.wire import Wire

# Where the service, not Connexion, refuses a string that is not a UUID (`require_uuid`,
# `Sessions.create_chat`, `runs.start_run`, `Sessions.create_session`; body fields checked before
# the credentials also carry the zod UUID as a `pattern`): path parameters by name, body fields by
# JSON pointer.
UUID_CHECKED_BY_THE_SERVICE = {
    "stopChat": {"path:chatId"},
    "sendChatMessage": {"body:/chatId", "body:/sessionId"},
    "resumeChatStream": {"path:chatId"},
    "listSessionChats": {"path:sessionId"},
    "createSessionChat": {"path:sessionId", "body:/id"},
    "getSessionChat": {"path:sessionId", "path:chatId"},
    "getSession": {"path:sessionId"},
    "updateSession": {"path:sessionId"},
    "updateSessionChat": {"path:sessionId", "path:chatId"},
    "deleteSessionChat": {"path:sessionId", "path:chatId"},
    "markChatRead": {"path:sessionId", "path:chatId"},
    "startChatRun": {"body:/artistId"},
    "createSession": {"body:/artistId", "body:/organizationId"},
    "startGeneration": {"path:chatId"},
}


class ConnexionValidation:
    """Connexion's request validation of one document's 3.0 view, as `create_app` sets it up."""

    def __init__(self, document: Document) -> None:
        api = RequestValidationAPI(
            Specification.load(connexion_view(document)),
            next_app=self._reached_the_handler,
            resolver=Resolver(function_resolver=lambda _operation_id: self._reached_the_handler),
            validator_map=VALIDATOR_MAP_PREPARED,
        )
        self._operations = api.operations

    @staticmethod
    async def _reached_the_handler(*_args: Any) -> None:
        return None

    async def refusal(self, operation_id: str, wire: Wire) -> str | None:
        """Why Connexion refuses `wire`, or None when the request reaches the handler."""
        headers = []
        if wire.body is not None:
            headers.append((b"content-length", str(len(wire.body)).encode()))
        if wire.content_type is not None:
            headers.append((b"content-type", wire.content_type.encode("latin-1")))
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/",
            "path_params": wire.path_params,
            "query_string": wire.query.encode("ascii"),
            "headers": headers,
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": wire.body or b"", "more_body": False}

        try:
            await self._operations[operation_id](scope, receive, self._reached_the_handler)
        except ProblemException as problem:
            return f"{problem.status} {problem.detail}"
        except UnicodeDecodeError:  # the app answers 400 (errors.render_undecodable_body)
            return "400 not UTF-8"
        return None


@functools.cache
def connexion(document: str) -> ConnexionValidation:
    return ConnexionValidation(DOCUMENTS[document])


def service_refusal(op: Operation, wire: Wire) -> str | None:
    body = json.loads(wire.body) if wire.body else None
    for check in sorted(UUID_CHECKED_BY_THE_SERVICE.get(op.operation_id, ())):
        location, name = check.split(":")
        if location == "path":
            value = wire.path_params[name]
        else:
            value = body
            for part in name.removeprefix("/").split("/"):
                value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and not is_uuid(value):
            return f"400 {name} must be a valid UUID"
    return None


def mock_refusal(runner: asyncio.Runner, op: Operation, wire: Wire) -> str | None:
    refusal = runner.run(connexion(op.document).refusal(op.operation_id, wire))
    return refusal or service_refusal(op, wire)
