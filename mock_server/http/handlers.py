"""Operation handlers, one per `operationId` of the served document (`stopChat` → `stop_chat`).

Each one reads its arguments, calls the chat service once, and shapes the JSON or the stream.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from mock_server.domain import runs
from mock_server.domain.models import DEFAULT_MODEL_ID, Chat, Session
from mock_server.domain.runs import RunRequest
from mock_server.domain.sessions import SessionChanges
from mock_server.http.auth import account_in
from mock_server.http.runtime import current_service as _service
from mock_server.http.sse import sse_response

Context = dict[str, Any]
JSON = dict[str, Any]


def _optional_object(body: Any) -> JSON:
    """An optional JSON body; without a content type Connexion passes the raw (empty) bytes."""
    return body if isinstance(body, dict) else {}


def session_json(session: Session) -> JSON:
    """The service's `toSessionResponse`: what the mock has no sandbox or repository for is what
    the service stores before it provisions them; `accountId` and `organizationId` are the mock's."""
    return {
        "id": session.id,
        "userId": session.account_id,
        "artistId": session.artist_id,
        "title": session.title,
        "status": session.status,
        "repoOwner": None,
        "repoName": None,
        "branch": None,
        "cloneUrl": None,
        "isNewBranch": False,
        "globalSkillRefs": [],
        "sandboxState": {"type": "vercel"},
        "lifecycleState": session.lifecycle_state,
        "lifecycleVersion": 0,
        "lastActivityAt": None,
        "sandboxExpiresAt": None,
        "hibernateAfter": None,
        "lifecycleRunId": None,
        "lifecycleError": None,
        "linesAdded": session.lines_added,
        "linesRemoved": session.lines_removed,
        "snapshotUrl": None,
        "snapshotCreatedAt": None,
        "snapshotSizeBytes": None,
        "cachedDiff": None,
        "cachedDiffUpdatedAt": None,
        "createdAt": session.created_at,
        "updatedAt": session.updated_at,
        "accountId": session.account_id,
        "organizationId": session.organization_id,
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
    session, chat = await _service().sessions.create_session(
        account_in(context_),
        title=body.get("title"),
        organization_id=body.get("organizationId"),
        artist_id=body.get("artistId"),
    )
    return {"session": session_json(session), "chat": chat_json(chat)}


async def get_session(session_id: str, context_: Context) -> JSON:
    session = await _service().sessions.owned_session(account_in(context_), session_id)
    return {"session": session_json(session)}


async def update_session(session_id: str, context_: Context, body: Any = None) -> JSON:
    body = _optional_object(body)
    changes = SessionChanges(
        title=body.get("title"),
        status=body.get("status"),
        lines_added=body.get("linesAdded"),
        lines_removed=body.get("linesRemoved"),
    )
    session = await _service().sessions.update_session(account_in(context_), session_id, changes)
    return {"session": session_json(session)}


async def list_session_chats(session_id: str, context_: Context) -> JSON:
    summaries = await _service().sessions.session_chats(account_in(context_), session_id)
    return {
        "chats": [
            {**chat_json(s.chat), "hasUnread": s.has_unread, "isStreaming": s.chat.is_streaming}
            for s in summaries
        ],
        "defaultModelId": DEFAULT_MODEL_ID,
    }


async def create_session_chat(session_id: str, context_: Context, body: Any = None) -> JSON:
    chat_id = _optional_object(body).get("id")
    chat = await _service().sessions.create_chat(account_in(context_), session_id, chat_id)
    return {"chat": chat_json(chat)}


async def get_session_chat(session_id: str, chat_id: str, context_: Context) -> JSON:
    chat, messages = await _service().sessions.session_chat(account_in(context_), session_id, chat_id)
    return {"chat": chat_json(chat), "isStreaming": chat.is_streaming, "messages": messages}


async def update_session_chat(session_id: str, chat_id: str, body: JSON, context_: Context) -> JSON:
    chat = await _service().sessions.update_chat(
        account_in(context_), session_id, chat_id, title=body.get("title"), model_id=body.get("modelId")
    )
    return {"chat": chat_json(chat)}


async def delete_session_chat(session_id: str, chat_id: str, context_: Context) -> JSON:
    await _service().delete_chat(account_in(context_), session_id, chat_id)
    return {"success": True}


async def mark_chat_read(session_id: str, chat_id: str, context_: Context) -> JSON:
    await _service().sessions.mark_read(account_in(context_), session_id, chat_id)
    return {"success": True}


async def start_chat_run(body: JSON, context_: Context) -> Response:
    request = RunRequest(
        prompt=body.get("prompt"),
        messages=body.get("messages"),
        artist_id=body.get("artistId"),
        account_id=body.get("accountId"),
        organization_id=body.get("organizationId"),
        model=body.get("model"),
    )
    started = await runs.start_run(_service(), account_in(context_), request)
    return JSONResponse(
        {"runId": started.run_id, "chatId": started.chat_id, "sessionId": started.session_id},
        status_code=202,
        headers={"Location": f"/api/chat/runs/{started.run_id}"},
    )


async def get_chat_run(run_id: str, context_: Context) -> JSON:
    account_in(context_)  # any key may read any run's status
    return {"runId": run_id, "status": await runs.run_status(_service(), run_id)}
