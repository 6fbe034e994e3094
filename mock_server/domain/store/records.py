"""The stored records as JSON text, for stores that keep them outside this process (Redis).

Only the fields that never change after a record is stored are written here; a chat's mutable
fields (its active generation and its times) are kept beside the text so they can be changed
atomically without reading and rewriting the whole record.
"""

from __future__ import annotations

import json
from typing import Any

from mock_server.domain.answers import answer_json, stored_answer
from mock_server.domain.models import (
    DEFAULT_MODEL_ID,
    Account,
    Chat,
    Chunk,
    Fault,
    Message,
    Run,
    RunStatus,
    Session,
)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def account_text(account: Account) -> str:
    return dumps({"id": account.id, "api_keys": list(account.api_keys), "acts_for": list(account.acts_for)})


def account_of(text: str) -> Account:
    data = json.loads(text)
    return Account(id=data["id"], api_keys=tuple(data["api_keys"]), acts_for=tuple(data.get("acts_for", ())))


def session_text(session: Session) -> str:
    return dumps(
        {
            "id": session.id,
            "account_id": session.account_id,
            "title": session.title,
            "organization_id": session.organization_id,
            "artist_id": session.artist_id,
            "created_at": session.created_at,
            "updated_at": session.updated_at,
            "status": session.status,
            "lines_added": session.lines_added,
            "lines_removed": session.lines_removed,
            "lifecycle_state": session.lifecycle_state,
        }
    )


def session_of(text: str) -> Session:
    return Session(**json.loads(text))


def chat_text(chat: Chat) -> str:
    """The fields of `chat` that never change once it is stored (its title and model change, and
    are kept beside them)."""
    return dumps(
        {
            "id": chat.id,
            "session_id": chat.session_id,
            "created_at": chat.created_at,
            "answer": answer_json(chat.answer) if chat.answer is not None else None,
        }
    )


def chat_of(fields: dict[str, str]) -> Chat:
    """The chat of its stored fields: its record, and what changes beside it."""
    data = json.loads(fields["record"])
    answer = data.pop("answer")
    # A record stored before the title and model moved beside it still carries them.
    title, model_id = data.pop("title", None), data.pop("model_id", None)
    return Chat(
        **data,
        title=fields.get("title", title),
        model_id=fields.get("model", model_id),
        answer=stored_answer(answer) if answer is not None else None,
        active_stream_id=fields["active"] or None,
        updated_at=fields["updated"],
        last_assistant_message_at=fields["last"] or None,
    )


def run_text(run: Run) -> str:
    """The fields of `run` that never change (its status is kept beside them)."""
    return dumps(
        {
            "id": run.id,
            "chat_id": run.chat_id,
            "message_id": run.message_id,
            "answer": answer_json(run.answer),
            "fault": run.fault.value if run.fault else None,
            "model_id": run.model_id,
        }
    )


def run_of(text: str, status: str) -> Run:
    data = json.loads(text)
    return Run(
        id=data["id"],
        chat_id=data["chat_id"],
        message_id=data["message_id"],
        answer=stored_answer(data["answer"]),
        fault=Fault(data["fault"]) if data["fault"] else None,
        status=RunStatus(status),
        model_id=data.get("model_id", DEFAULT_MODEL_ID),
    )


def message_text(message: Message) -> str:
    return dumps(message)


def message_of(text: str) -> Message:
    value: Message = json.loads(text)
    return value


def chunk_text(chunk: Chunk) -> str:
    return dumps(chunk)


def chunk_of(text: str) -> Chunk:
    value: Chunk = json.loads(text)
    return value
