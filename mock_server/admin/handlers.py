"""Admin API handlers: state, reset, seed loading, generations with faults, and the journal.

They act on the runtime of the app that serves them; domain rules (a busy chat, an unknown chat)
stay in the chat service, and every refusal is a domain error rendered in the contract's format.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connexion import request
from starlette.responses import Response

from mock_server.errors import BadRequest
from mock_server.journal import Filter, journal_of
from mock_server.models import Chat, Fault, Run
from mock_server.runtime import Runtime, runtime_of
from mock_server.seed import SeedError, validate_seed

JSON = dict[str, Any]
DEFAULT_TEXT = "This answer was started from the admin API and keeps streaming until someone presses Stop."


def _runtime() -> Runtime:
    return runtime_of(request.scope)


async def _generation(runtime: Runtime, chat: Chat) -> JSON | None:
    run_id = chat.active_stream_id
    run = await runtime.store.get_run(run_id) if run_id else None
    return _run_json(run, await runtime.store.chunk_count(run.id)) if run else None


def _run_json(run: Run, chunks: int) -> JSON:
    return {
        "chatId": run.chat_id,
        "runId": run.id,
        "status": run.status.value,
        "fault": run.fault.value if run.fault else None,
        "chunks": chunks,
    }


async def state_json(runtime: Runtime) -> JSON:
    accounts = []
    generating = []
    snapshot = await runtime.service.snapshot()
    for entry in snapshot["accounts"]:
        account = entry["account"]
        sessions = []
        for session_entry in entry["sessions"]:
            session = session_entry["session"]
            chats = []
            for chat in sorted(session_entry["chats"], key=lambda c: c.created_at):
                generation = await _generation(runtime, chat)
                chats.append(
                    {
                        "id": chat.id,
                        "title": chat.title,
                        "activeStreamId": chat.active_stream_id,
                        "messageCount": len(await runtime.store.messages(chat.id)),
                        "generation": generation,
                    }
                )
                if generation and generation["status"] == "running":
                    generating.append({**generation, "accountId": account.id, "sessionId": session.id})
            sessions.append({"id": session.id, "title": session.title, "chats": chats})
        accounts.append({"id": account.id, "apiKeys": list(account.api_keys), "sessions": sessions})
    return {"accounts": accounts, "generating": generating}


async def get_state() -> JSON:
    return await state_json(_runtime())


async def reset_state() -> JSON:
    runtime = _runtime()
    await runtime.load(runtime.seed)
    return await state_json(runtime)


async def get_seed() -> JSON:
    return _runtime().seed


async def load_seed(body: Any) -> JSON:
    try:
        seed = validate_seed(body, source="seed")
    except SeedError as exc:
        raise BadRequest(str(exc), missing_fields=[]) from None
    runtime = _runtime()
    await runtime.load(seed)
    return await state_json(runtime)


async def start_generation(chat_id: str, body: Any = None) -> JSON:
    options = body if isinstance(body, dict) else {}
    fault = options.get("fault")
    runtime = _runtime()
    run = await runtime.service.generate(
        chat_id,
        options.get("text") or DEFAULT_TEXT,
        repeat=options.get("repeat", True),
        fault=Fault(fault) if fault else None,
    )
    return _run_json(run, await runtime.store.chunk_count(run.id))


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
    entries = journal_of(request.scope).entries(query)
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
        raise BadRequest(
            f"since={since!r} is neither an entry id nor an ISO 8601 time", missing_fields=[]
        ) from None
    if moment.tzinfo is None:
        raise BadRequest(f"since={since!r} needs a time zone (e.g. Z)", missing_fields=[])
    return None, moment


async def clear_journal() -> Response:
    journal_of(request.scope).clear()
    return Response(status_code=204)
