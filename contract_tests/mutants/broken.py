"""The broken behaviours of the mutants: chat services that break one rule each (the ASGI wrappers
are in `wrappers`).

Each class breaks exactly one rule of the contract and otherwise behaves like the mock, so the
test that catches it is the one that checks that rule.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

from mock_server.domain.errors import ChatBusy, ChatNotFound, Forbidden, SessionNotFound
from mock_server.domain.models import Account, Chat, Chunk, Session, is_claim, new_claim
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
        try:
            return await super().owned_session(account, session_id)
        except Forbidden:
            session = await self.store.get_session(session_id)
            assert session is not None
            raise Forbidden(f"Forbidden: {session.title!r} belongs to {session.account_id}") from None


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
