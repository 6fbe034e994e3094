"""The suite's error-body rule follows what each operation documents: the contract's error body
everywhere, and `{"error": "..."}` alone only where the operation's schema does not require `status`
(the service answers a refused chat id so)."""

from __future__ import annotations

import schemathesis

from contract_tests.checks import error_body_problem, status_is_required
from mock_server.http.spec import load_document

SCHEMA = schemathesis.openapi.from_dict(load_document())
JSON = "application/json"


def test_an_error_without_status_passes_only_where_its_operation_documents_one():
    create_chat = SCHEMA["/api/sessions/{sessionId}/chats"]["POST"]
    stop = SCHEMA["/api/chat/{chatId}/stop"]["POST"]
    assert not status_is_required(create_chat, 400) and not status_is_required(create_chat, 409)
    assert status_is_required(create_chat, 403) and status_is_required(stop, 400)
    bare = b'{"error": "Invalid chat id"}'
    assert error_body_problem(400, JSON, bare, status_required=False) is None
    assert "status" in (error_body_problem(400, JSON, bare) or "")


def test_a_status_other_than_error_or_an_empty_text_is_refused_either_way():
    for required in (True, False):
        wrong = error_body_problem(400, JSON, b'{"status": "ok", "error": "x"}', status_required=required)
        assert wrong is not None
        assert error_body_problem(409, JSON, b'{"error": ""}', status_required=required) is not None
        assert error_body_problem(409, "text/plain", b'{"error": "x"}', status_required=required)
