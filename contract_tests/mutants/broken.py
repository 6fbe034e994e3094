"""The broken behaviours of the mutants: chat services that break one rule, and ASGI wrappers.

Each class breaks exactly one rule of the contract and otherwise behaves like the mock, so the
test that catches it is the one that checks that rule.
"""

from __future__ import annotations

import asyncio
import http
import json
import re
import urllib.parse
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_server.domain.errors import ChatBusy, ChatNotFound, Forbidden, SessionNotFound
from mock_server.domain.models import Account, Chat, Chunk, Session, is_claim, is_uuid, new_claim
from mock_server.domain.models import Message as UIMessage
from mock_server.domain.service import ChatService, Resumed, Sent
from mock_server.domain.sessions import Sessions, require_uuid

# Chat services


class AlwaysStopped(ChatService):
    async def stop(self, account: Account, chat_id: str, account_id: str | None = None) -> bool:
        await super().stop(account, chat_id, account_id)
        return True


class StopSaysFalse(ChatService):
    async def stop(self, account: Account, chat_id: str, account_id: str | None = None) -> bool:
        await super().stop(account, chat_id, account_id)
        return False


class OwnershipIgnored(ChatService):
    async def owned_chat(self, account: Account, chat_id: str) -> Chat:
        require_uuid(chat_id, "chatId")
        chat = await self.store.get_chat(chat_id)
        if chat is None:
            raise ChatNotFound()
        return chat


class _AnyonesSessions(Sessions):
    async def owned_session(self, account: Account, session_id: str) -> Session:
        require_uuid(session_id, "sessionId")
        session = await self.store.get_session(session_id)
        if session is None:
            raise SessionNotFound()
        return session


class SessionOwnershipIgnored(ChatService):
    """The session routes let any account read and change any session and its chats."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sessions = _AnyonesSessions(self.store, max_chats=self.sessions.max_chats)


class _TellingSessions(Sessions):
    async def owned_session(self, account: Account, session_id: str) -> Session:
        require_uuid(session_id, "sessionId")
        session = await self.store.get_session(session_id)
        if session is None:
            raise SessionNotFound()
        if session.account_id != account.id:
            raise Forbidden(f"Forbidden: {session.title!r} belongs to {session.account_id}")
        return session


class ForbiddenNamesTheSession(ChatService):
    """A refused session route says whose session it is and what it is called."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sessions = _TellingSessions(self.store, max_chats=self.sessions.max_chats)


class ForeignStopCancels(ChatService):
    async def stop(self, account: Account, chat_id: str, account_id: str | None = None) -> bool:
        require_uuid(chat_id, "chatId")
        chat = await self.store.get_chat(chat_id)
        if chat is not None and chat.active_stream_id and not is_claim(chat.active_stream_id):
            session = await self.store.get_session(chat.session_id)
            if session is not None and session.account_id != account.id:
                await self.generations.cancel(chat.active_stream_id)
                raise Forbidden()
        return await super().stop(account, chat_id, account_id)


_UUID_ALPHABET = re.compile(r"^[0-9a-fA-F-]*$")


class CrashOnStrangeId(ChatService):
    async def stop(self, account: Account, chat_id: str, account_id: str | None = None) -> bool:
        if not _UUID_ALPHABET.match(chat_id):
            raise ValueError(f"cannot parse chat id {chat_id!r}")
        return await super().stop(account, chat_id, account_id)


class WrongKeyAccepted(ChatService):
    async def account_for_key(self, api_key: str) -> Account | None:
        account = await super().account_for_key(api_key)
        if account is None:
            accounts = await self.store.accounts()
            return accounts[0] if accounts else None
        return account


class UnknownChatIdle(ChatService):
    async def stop(self, account: Account, chat_id: str, account_id: str | None = None) -> bool:
        require_uuid(chat_id, "chatId")
        if await self.store.get_chat(chat_id) is None:
            return False
        return await super().stop(account, chat_id, account_id)


CANCEL_ROUND_TRIP = 0.05
"""Seconds `RacyStop` spends between reading the run and cancelling it."""


class RacyStop(ChatService):
    """Decides from a stale read: whoever saw the run running claims to have stopped it."""

    async def stop(self, account: Account, chat_id: str, account_id: str | None = None) -> bool:
        chat = await self.owned_chat(account, chat_id)
        run_id = chat.active_stream_id
        if run_id is None or is_claim(run_id):
            return await super().stop(account, chat_id, account_id)
        run = await self.store.get_run(run_id)
        if run is None or run.status.terminal:
            return False
        # The cancel request's round trip to the workflow service, as the running service makes
        # it: the stops that arrive meanwhile read the same stale state.
        await asyncio.sleep(CANCEL_ROUND_TRIP)
        await self.store.request_cancel(run_id)
        await self.store.wait_finished(run_id, self.generations.stop_timeout)
        return True


class StopKeepsChatBusy(ChatService):
    async def stop(self, account: Account, chat_id: str, account_id: str | None = None) -> bool:
        stopped = await super().stop(account, chat_id, account_id)
        if stopped:
            await self.store.swap_active_stream(chat_id, None, new_claim())
        return stopped


class StopLeavesStreamRunning(ChatService):
    async def stop(self, account: Account, chat_id: str, account_id: str | None = None) -> bool:
        chat = await self.owned_chat(account, chat_id)
        if chat.active_stream_id is None:
            return False
        return await self.store.swap_active_stream(chat.id, chat.active_stream_id, None)


class _ChunkRewriter(ChatService):
    """Rewrites the chunks of every answer as a client receives them (sent or resumed)."""

    def rewrite(self, chunks: AsyncIterator[Chunk]) -> AsyncIterator[Chunk]:
        raise NotImplementedError

    async def send(self, account: Account, session_id: str, chat_id: str, messages: list[UIMessage]) -> Sent:
        sent = await super().send(account, session_id, chat_id, messages)
        return Sent(sent.run_id, self.rewrite(sent.chunks), sent.resumed)

    async def resume(
        self, account: Account, chat_id: str, start_index: int, account_id: str | None = None
    ) -> Resumed | None:
        resumed = await super().resume(account, chat_id, start_index, account_id)
        return resumed and Resumed(resumed.run_id, resumed.tail_index, self.rewrite(resumed.chunks))


class ToolsLeftOpen(_ChunkRewriter):
    async def rewrite(self, chunks: AsyncIterator[Chunk]) -> AsyncIterator[Chunk]:
        async for chunk in chunks:
            if chunk.get("type") != "tool-output-error":
                yield chunk


class FinishedToolsCancelled(_ChunkRewriter):
    async def rewrite(self, chunks: AsyncIterator[Chunk]) -> AsyncIterator[Chunk]:
        finished: list[str] = []
        async for chunk in chunks:
            if chunk.get("type") == "tool-output-available":
                finished.append(chunk["toolCallId"])
            if chunk.get("type") == "abort":
                for call_id in finished:
                    yield {"type": "tool-output-error", "toolCallId": call_id, "errorText": "Cancelled"}
            yield chunk


class AbortWithReason(_ChunkRewriter):
    async def rewrite(self, chunks: AsyncIterator[Chunk]) -> AsyncIterator[Chunk]:
        async for chunk in chunks:
            yield {**chunk, "reason": "user"} if chunk.get("type") == "abort" else chunk


class SecondSendRefused(ChatService):
    """A message sent while an answer runs is refused with 409, as the service once did."""

    async def send(self, account: Account, session_id: str, chat_id: str, messages: list[UIMessage]) -> Sent:
        sent = await super().send(account, session_id, chat_id, messages)
        if sent.resumed:
            close = getattr(sent.chunks, "aclose", None)
            if close is not None:
                await close()
            raise ChatBusy()
        return sent


class ChunkAfterAbort(_ChunkRewriter):
    async def rewrite(self, chunks: AsyncIterator[Chunk]) -> AsyncIterator[Chunk]:
        async for chunk in chunks:
            yield chunk
            if chunk.get("type") == "abort":
                yield {"type": "text-start", "id": "after-abort"}


async def _nothing() -> AsyncIterator[Chunk]:
    return
    yield


class ResumeIdleIs200(ChatService):
    """A resume with nothing running answers 200 and an empty stream, not 204."""

    async def resume(
        self, account: Account, chat_id: str, start_index: int, account_id: str | None = None
    ) -> Resumed | None:
        resumed = await super().resume(account, chat_id, start_index, account_id)
        return resumed or Resumed(new_claim(), -1, _nothing())


class ResumeFromTheStart(ChatService):
    """A resume replays the run from its first chunk, whatever `startIndex` says."""

    async def resume(
        self, account: Account, chat_id: str, start_index: int, account_id: str | None = None
    ) -> Resumed | None:
        return await super().resume(account, chat_id, 0, account_id)


class DeltaBeforeStart(_ChunkRewriter):
    async def rewrite(self, chunks: AsyncIterator[Chunk]) -> AsyncIterator[Chunk]:
        async for chunk in chunks:
            if chunk.get("type") not in ("reasoning-start", "text-start"):
                yield chunk


# ASGI wrappers

Rewrite = Callable[[Scope, int, dict[str, Any]], tuple[int, str, dict[str, Any]]]


class _JsonRewriter:
    """Buffers each JSON response of `app` and lets `rewrite` change its status, type and body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def rewrite(self, scope: Scope, status: int, body: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def buffered_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if dict(message.get("headers", [])).get(b"content-type", b"").startswith(b"application/json"):
                    start = message
                    return
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                status, content_type, body = self.rewrite(
                    scope, start["status"], json.loads(b"".join(chunks))
                )
                payload = json.dumps(body).encode()
                headers: list[tuple[bytes, bytes]] = [
                    (k, v)
                    for k, v in start.get("headers", [])
                    if k not in (b"content-type", b"content-length")
                ]
                headers += [
                    (b"content-type", content_type.encode()),
                    (b"content-length", str(len(payload)).encode()),
                ]
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": payload})
                return
            await send(message)

        await self.app(scope, receive, buffered_send)


class ProblemJsonErrors(_JsonRewriter):
    def rewrite(self, scope: Scope, status: int, body: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
        if status < 400:
            return status, "application/json", body
        problem = {
            "type": "about:blank",
            "title": http.HTTPStatus(status).phrase,
            "status": status,
            "detail": body.get("error") or body.get("message"),
        }
        return status, "application/problem+json", problem


class SuccessMissing(_JsonRewriter):
    def rewrite(self, scope: Scope, status: int, body: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
        if status == 200 and scope["path"].endswith("/stop"):
            body = {k: v for k, v in body.items() if k != "success"}
        return status, "application/json", body


LINGER_SECONDS = 20.0


class StreamLingers:
    """Every event stream stays open `seconds` after its last event (None: until the client
    leaves, as a server whose streams never end their response)."""

    def __init__(self, app: ASGIApp, seconds: float | None = LINGER_SECONDS) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        streaming = False

        async def lingering_send(message: Message) -> None:
            nonlocal streaming
            if message["type"] == "http.response.start":
                content_type = dict(message.get("headers", [])).get(b"content-type", b"")
                streaming = content_type.startswith(b"text/event-stream")
            elif streaming and message["type"] == "http.response.body" and not message.get("more_body"):
                await send({**message, "more_body": True})
                if self.seconds is None:
                    await asyncio.Event().wait()  # until the client leaves and the task is cancelled
                await asyncio.sleep(self.seconds or 0)
            await send(message)

        await self.app(scope, receive, lingering_send if scope["type"] == "http" else send)


class StartIndexUnchecked:
    """A resume reads a `startIndex` that is not a non-negative integer as no start index."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/stream"):
            query = urllib.parse.parse_qsl(scope.get("query_string", b"").decode("latin-1"), True)
            kept = [(k, v) for k, v in query if k != "startIndex" or v.isdigit()]
            scope = {**scope, "query_string": urllib.parse.urlencode(kept).encode()}
        await self.app(scope, receive, send)


_STOP_PATH = re.compile(r"^/api/chat/(?P<chat_id>[^/]+)/stop$")


class ValidationBeforeAuth:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _STOP_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match and scope["method"] == "POST" and not is_uuid(match["chat_id"]):
            body = json.dumps({"status": "error", "error": "chatId must be a valid UUID"}).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 400, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
