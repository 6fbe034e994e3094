"""The contracts a run can judge against: the target's served document, or the published stop page."""

from __future__ import annotations

import copy
from typing import Any

STOP_PATH = "/api/chat/{chatId}/stop"


def published_document() -> dict[str, Any]:
    """The published stop document, with the 401 every secured operation of the service answers.

    The published page leaves 401 out, yet the running service answers it (neither or both
    credentials, an unknown key) and Schemathesis fails any undocumented status; without it, every
    correct server would be blamed.
    """
    from mock_server.http.spec import UPSTREAM_SPEC_PATH, read_yaml

    document = copy.deepcopy(read_yaml(UPSTREAM_SPEC_PATH))
    operation = document["paths"][STOP_PATH]["post"]
    operation.setdefault("operationId", "stopChat")
    operation["responses"].setdefault(
        "401",
        {
            "description": "Missing, doubled or unknown credentials (the running service's bodies)",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["status"],
                        "properties": {
                            "status": {"type": "string", "enum": ["error"]},
                            "error": {"type": "string"},
                            "message": {"type": "string"},
                        },
                        "anyOf": [{"required": ["error"]}, {"required": ["message"]}],
                    }
                }
            },
        },
    )
    return document


def bundled_document() -> dict[str, Any]:
    """The contract this suite ships (`openapi/recoup-chat.yaml`): the suite's own reference for what
    a v6 client accepts, whatever a target documents."""
    from mock_server.http.spec import load_document

    return load_document()
