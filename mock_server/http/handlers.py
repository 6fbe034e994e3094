"""Operation handlers, one per `operationId` of the served document (`stopChat` → `stop_chat`).

Each one reads its arguments, calls the chat service once, and shapes the JSON or the stream.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from mock_server.domain.models import DEFAULT_MODEL_ID, Chat, Session
from mock_server.http.auth import account_in
from mock_server.http.runtime import current_service as _service
from mock_server.http.sse import sse_response

Context = dict[str, Any]
JSON = dict[str, Any]


def _optional_object(body: Any) -> JSON:
    """An optional JSON body; without a content type Connexion passes the raw (empty) bytes."""
    return body if isinstance(body, dict) else {}


def session_json(session: Session) -> JSON:
    return {
        "id": session.id,
        "accountId": session.account_id,
        "title": session.title,
        "organizationId": session.organization_id,
        "artistId": session.artist_id,
        "createdAt": session.created_at,
        "updatedAt": session.updated_at,
    }


def chat_json(chat: Chat) -> JSON:
    return {
        "id": chat.id,
        "sessionId": chat.session_id,
        "title": chat.title,
        "modelId": chat.model_id,
        "activeStreamId": chat.active_stream_id,
        "lastAssistantMessageAt": chat.last_assistant_message_at,
        "createdAt": chat.created_at,
        "updatedAt": chat.updated_at,
    }


async def stop_chat(chat_id: str, context_: Context, account_id: str | None = None) -> JSON:
    stopped = await _service().stop(account_in(context_), chat_id, account_id)
    return {"success": True, "stopped": stopped}


async def send_chat_message(body: JSON, context_: Context) -> Any:
    sent = await _service().send(account_in(context_), body["sessionId"], body["chatId"], body["messages"])
    return sse_response(sent.chunks, {"x-workflow-run-id": sent.run_id})


async def resume_chat_stream(
    chat_id: str, context_: Context, start_index: int = 0, account_id: str | None = None
) -> Any:
    resumed = await _service().resume(account_in(context_), chat_id, start_index, account_id)
    if resumed is None:
        return Response(status_code=204)
    headers = {
        "x-workflow-run-id": resumed.run_id,
        "x-workflow-stream-tail-index": str(resumed.tail_index),
    }
    return sse_response(resumed.chunks, headers)


async def create_session(context_: Context, body: Any = None) -> JSON:
    body = _optional_object(body)
    session, chat = await _service().create_session(
        account_in(context_),
        title=body.get("title"),
        organization_id=body.get("organizationId"),
        artist_id=body.get("artistId"),
    )
    return {"session": session_json(session), "chat": chat_json(chat)}


async def list_session_chats(session_id: str, context_: Context) -> JSON:
    chats = await _service().session_chats(account_in(context_), session_id)
    return {
        "chats": [{**chat_json(c), "hasUnread": False, "isStreaming": c.is_streaming} for c in chats],
        "defaultModelId": chats[0].model_id if chats else DEFAULT_MODEL_ID,
    }


async def create_session_chat(session_id: str, context_: Context, body: Any = None) -> JSON:
    chat_id = _optional_object(body).get("id")
    chat = await _service().create_chat(account_in(context_), session_id, chat_id)
    return {"chat": chat_json(chat)}


async def get_session_chat(session_id: str, chat_id: str, context_: Context) -> JSON:
    chat, messages = await _service().session_chat(account_in(context_), session_id, chat_id)
    return {"chat": chat_json(chat), "isStreaming": chat.is_streaming, "messages": messages}
