"""Admin API handlers: state, reset, seed loading, generations with faults, and the journal.

They act on the runtime of the app that serves them; domain rules (a busy chat, an unknown chat)
stay in the chat service, and every refusal is a domain error rendered in the contract's format.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from starlette.responses import Response

from mock_server.domain.answers import AnswerError
from mock_server.domain.errors import InvalidInput
from mock_server.domain.models import Fault
from mock_server.domain.seed import SeedError, generating_answer, validate_seed
from mock_server.domain.views import GenerationView, StatePage
from mock_server.http.journal import Filter
from mock_server.http.runtime import Runtime, current_runtime

JSON = dict[str, Any]
STATE_PAGE = 500
"""Sessions in a page of the state, when the request does not say."""


def generation_json(generation: GenerationView) -> JSON:
    run = generation.run
    return {
        "chatId": run.chat_id,
        "runId": run.id,
        "status": run.status.value,
        "fault": run.fault.value if run.fault else None,
        "chunks": generation.chunks,
    }


def state_json(page: StatePage) -> JSON:
    accounts = []
    for account_view in page.accounts:
        account = account_view.account
        sessions = []
        for session_view in account_view.sessions:
            chats = [
                {
                    "id": view.chat.id,
                    "title": view.chat.title,
                    "modelId": view.chat.model_id,
                    "activeStreamId": view.chat.active_stream_id,
                    "lastAssistantMessageAt": view.chat.last_assistant_message_at,
                    "messageCount": view.message_count,
                    "generation": generation_json(view.generation) if view.generation else None,
                }
                for view in session_view.chats
            ]
            session = session_view.session
            sessions.append(
                {"id": session.id, "title": session.title, "status": session.status, "chats": chats}
            )
        accounts.append({"id": account.id, "apiKeys": list(account.api_keys), "sessions": sessions})
    generating = [
        {**generation_json(r.generation), "accountId": r.account_id, "sessionId": r.session_id}
        for r in page.running
    ]
    next_cursor = str(page.next_offset) if page.next_offset is not None else None
    return {
        "accounts": accounts,
        "generating": generating,
        "sessions": page.sessions,
        "nextCursor": next_cursor,
        "store": {"chats": page.use.chats, "bytes": page.use.bytes, "maxBytes": page.use.max_bytes},
    }


async def _state(runtime: Runtime, offset: int = 0, limit: int = STATE_PAGE) -> JSON:
    return state_json(await runtime.service.state(offset, limit))


async def get_state(limit: int = STATE_PAGE, cursor: str | None = None) -> JSON:
    if cursor is not None and not re.fullmatch(r"[0-9]{1,12}", cursor):
        raise InvalidInput("cursor must be a nextCursor this API returned")
    return await _state(current_runtime(), int(cursor or 0), limit)


async def reset_state() -> JSON:
    runtime = current_runtime()
    await runtime.load(await runtime.seed_in_force())
    return await _state(runtime)


async def get_seed() -> JSON:
    return await current_runtime().seed_in_force()


async def load_seed(body: Any) -> JSON:
    try:
        seed = validate_seed(body, source="seed")
    except SeedError as exc:
        raise InvalidInput(str(exc)) from None
    runtime = current_runtime()
    await runtime.load(seed)
    return await _state(runtime)


async def start_generation(chat_id: str, body: Any = None) -> JSON:
    options = body if isinstance(body, dict) else {}
    fault = options.get("fault")
    try:
        answer = generating_answer(options)
    except AnswerError as exc:
        raise InvalidInput(str(exc)) from None
    service = current_runtime().service
    run = await service.generate(chat_id, answer, fault=Fault(fault) if fault else None)
    generation = await service.generation(run.id)
    assert generation is not None
    return generation_json(generation)


async def get_journal(
    method: str | None = None,
    path: str | None = None,
    status: int | None = None,
    operation_id: str | None = None,
    validation: str | None = None,
    since: str | None = None,
    limit: int | None = None,
) -> JSON:
    since_id, since_time = _since(since)
    query = Filter(
        method=method,
        path=path,
        status=status,
        operation_id=operation_id,
        validation=validation,
        since=since_id,
        since_time=since_time,
        limit=limit,
    )
    entries = current_runtime().journal.entries(query)
    last_id = entries[-1].id if entries else (since_id or 0)
    return {"entries": [e.as_json() for e in entries], "lastId": last_id}


def _since(since: str | None) -> tuple[int | None, datetime | None]:
    if since is None:
        return None, None
    if re.fullmatch(r"[0-9]{1,18}", since):
        return int(since), None
    try:
        moment = datetime.fromisoformat(since)
    except ValueError:
        raise InvalidInput(f"since={since!r} is neither an entry id nor an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise InvalidInput(f"since={since!r} needs a time zone (e.g. Z)")
    return None, moment


async def clear_journal() -> Response:
    current_runtime().journal.clear()
    return Response(status_code=204)
