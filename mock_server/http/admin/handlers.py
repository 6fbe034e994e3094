"""Admin API handlers: state, reset, seed loading, generations with faults, and the journal.

They act on the runtime of the app that serves them; domain rules (a busy chat, an unknown chat)
stay in the chat service, and every refusal is a domain error rendered in the contract's format.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.responses import Response

from mock_server.domain.answers import AnswerError
from mock_server.domain.errors import InvalidInput
from mock_server.domain.models import Fault
from mock_server.domain.seed import SeedError, generating_answer, validate_seed
from mock_server.domain.service import AccountView, GenerationView
from mock_server.http.journal import Filter
from mock_server.http.runtime import Runtime, current_runtime

JSON = dict[str, Any]


def generation_json(generation: GenerationView) -> JSON:
    run = generation.run
    return {
        "chatId": run.chat_id,
        "runId": run.id,
        "status": run.status.value,
        "fault": run.fault.value if run.fault else None,
        "chunks": generation.chunks,
    }


def state_json(state: list[AccountView]) -> JSON:
    accounts = []
    generating = []
    for account_view in state:
        account = account_view.account
        sessions = []
        for session_view in account_view.sessions:
            session = session_view.session
            chats = []
            for chat_view in session_view.chats:
                generation = generation_json(chat_view.generation) if chat_view.generation else None
                chats.append(
                    {
                        "id": chat_view.chat.id,
                        "title": chat_view.chat.title,
                        "activeStreamId": chat_view.chat.active_stream_id,
                        "messageCount": chat_view.message_count,
                        "generation": generation,
                    }
                )
                if generation and generation["status"] == "running":
                    generating.append({**generation, "accountId": account.id, "sessionId": session.id})
            sessions.append({"id": session.id, "title": session.title, "chats": chats})
        accounts.append({"id": account.id, "apiKeys": list(account.api_keys), "sessions": sessions})
    return {"accounts": accounts, "generating": generating}


async def _state(runtime: Runtime) -> JSON:
    return state_json(await runtime.service.state())


async def get_state() -> JSON:
    return await _state(current_runtime())


async def reset_state() -> JSON:
    runtime = current_runtime()
    await runtime.load(runtime.seed)
    return await _state(runtime)


async def get_seed() -> JSON:
    return current_runtime().seed


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
    if since.isdigit():
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
