"""Headless runs: an agent answer started by API key with no client stream (`POST /api/chat/runs`)
on a session and chat of its own, and its status (`GET /api/chat/runs/{runId}`).

A run holds its chat's slot like any answer, so a stop, a resume from `GET /api/chat/{chatId}/stream`
and a second send treat it exactly as an interactive one (`lib/chat/runs/handleStartChatRun.ts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mock_server.domain.answers import agent_answer
from mock_server.domain.errors import (
    AccountAccessDenied,
    InvalidInput,
    OrganizationAccessDenied,
    PromptOrMessages,
    RunNotFound,
    TooManyGenerations,
)
from mock_server.domain.models import (
    DEFAULT_MODEL_ID,
    Account,
    Message,
    RunStatus,
    is_strict_uuid,
    js_trim,
    new_id,
)
from mock_server.domain.service import ChatService, message_text

RUN_TITLE = "Scheduled generation"
"""The title of a headless run's session and of its chat (`handleStartChatRun.ts`,
`provisionRunSession.ts`)."""


@dataclass(frozen=True)
class RunRequest:
    """A `POST /api/chat/runs` body (`lib/chat/runs/validateChatRunRequest.ts`)."""

    prompt: str | None = None
    messages: list[Message] | None = None
    artist_id: str | None = None
    account_id: str | None = None
    organization_id: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class StartedRun:
    run_id: str
    chat_id: str
    session_id: str


async def start_run(service: ChatService, account: Account, request: RunRequest) -> StartedRun:
    """Start an agent answer on a new session and chat, for the caller or the account it acts for."""
    if request.artist_id is not None and not is_strict_uuid(request.artist_id):
        raise InvalidInput("artistId must be a valid UUID", ["artistId"])
    prompt = js_trim(request.prompt or "")
    if bool(prompt) == bool(request.messages):
        raise PromptOrMessages()
    if request.account_id:
        if not account.may_act_for(request.account_id):
            raise AccountAccessDenied()
        account = Account(id=request.account_id, api_keys=())
    if request.organization_id and not await service.sessions.member_of(account.id, request.organization_id):
        raise OrganizationAccessDenied()
    if service.generations.full():
        raise TooManyGenerations()  # before the session is made, so that a refusal leaves nothing
    messages = request.messages or [_user_message(prompt)]
    model_id = js_trim(request.model or "") or DEFAULT_MODEL_ID
    session, chat = await service.sessions.create_session(
        account, RUN_TITLE, artist_id=request.artist_id, chat_title=RUN_TITLE, model_id=model_id
    )
    last = messages[-1]
    prompt_message = last if last.get("role") == "user" else None
    answer = await service.store.default_answer() or agent_answer(message_text(last))
    run = await service.start_generation(chat.id, answer, prompt=prompt_message, model_id=model_id)
    return StartedRun(run.id, chat.id, session.id)


async def run_status(service: ChatService, run_id: str) -> str:
    """`running`, `completed`, `failed` or `cancelled` (`lib/chat/runs/normalizeRunStatus.ts`).

    Any key may read any run's status, as on the service (`handleChatRunStatus.ts` checks the
    credentials only). A run the mock no longer keeps (past `--run-retention`) is not found.
    """
    run = await service.store.get_run(run_id)
    if run is None:
        raise RunNotFound()
    return RunStatus(run.status).value


def _user_message(text: str) -> dict[str, Any]:
    return {"id": new_id(), "role": "user", "parts": [{"type": "text", "text": text}]}
