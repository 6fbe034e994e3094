"""The chat service: what each operation does, in the order the running Recoup service does it.

Handlers call one method each and shape its result; every failure is a `DomainError`. Identity
checks come before any state is read or changed, so a rejected request never alters what is stored.
Every generation starts through `start_generation`, which claims the chat before the run exists:
that claim is what lets a stop that lands between the two release the chat instead of missing it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from mock_server.domain.answers import Answer, agent_answer, text_only
from mock_server.domain.errors import (
    AccountAccessDenied,
    ChatBusy,
    ChatNotFound,
    Forbidden,
    InvalidInput,
    InvalidUUID,
    RunUnreadable,
    TooManyGenerations,
    UnknownCredentials,
)
from mock_server.domain.following import Followers
from mock_server.domain.generation import Generations
from mock_server.domain.models import (
    DEFAULT_MODEL_ID,
    Account,
    Chat,
    Chunk,
    Fault,
    Message,
    Run,
    Session,
    is_claim,
    is_strict_uuid,
    new_claim,
)
from mock_server.domain.recorded import is_recorded, reply_to
from mock_server.domain.sessions import Sessions, require_uuid
from mock_server.domain.store import ChatStore
from mock_server.domain.views import GenerationView, StatePage, generation_view, state_page


@dataclass(frozen=True)
class Resumed:
    """A running generation to replay: its id, the index of its last chunk so far (-1 before the
    first), as `x-workflow-stream-tail-index` reports it (`WorkflowChatTransport` resumes at
    `tailIndex + 1`), and the chunks from start."""

    run_id: str
    tail_index: int
    chunks: AsyncIterator[Chunk]


UNTIL_STOPPED = "This answer keeps streaming until someone presses Stop."
"""What a generation started without an answer says, over and over."""


@dataclass(frozen=True)
class Sent:
    """The answer to a sent message: its run id and chunks; `resumed` when the chat was already
    answering and these are that answer's chunks from its first."""

    run_id: str
    chunks: AsyncIterator[Chunk]
    resumed: bool = False


def message_text(message: Message) -> str:
    parts = message.get("parts", [])
    return "".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")


class ChatService:
    def __init__(
        self,
        store: ChatStore,
        generations: Generations,
        *,
        max_chats: int = 0,
        max_messages: int = 0,
        cancel_dropped: bool = True,
    ) -> None:
        self.store = store
        self.generations = generations
        self.cancel_dropped = cancel_dropped
        """Whether a client that leaves a stream before its end cancels the run, as the service's
        stream watcher does (`lib/chat/wrapWorkflowStreamWatcher.ts`); off, the run goes on."""
        self.sessions = Sessions(store, max_chats=max_chats)
        """Sessions and chats themselves; this service is their answers."""
        self.max_messages = max_messages
        """Messages kept per chat, the latest (0: all); the answers' messages keep the same bound."""
        self.followers = Followers(store, generations.is_local)

    # Identity

    async def account_for_key(self, api_key: str) -> Account | None:
        return await self.store.account_for_key(api_key)

    async def authenticate(self, api_key: str) -> Account:
        """The account that holds `api_key`; `UnknownCredentials` when none does."""
        account = await self.account_for_key(api_key)
        if account is None:
            raise UnknownCredentials()
        return account

    async def owned_chat(self, account: Account, chat_id: str) -> Chat:
        """The chat, after the UUID (400), existence (404) and ownership (403) checks, in that order;
        a chat whose session is gone is not found either."""
        require_uuid(chat_id, "chatId")
        chat, owner = await self.store.chat_and_owner(chat_id)
        if chat is None or owner is None:
            raise ChatNotFound()
        if owner != account.id:
            raise Forbidden()
        return chat

    async def chat_of_route(self, account: Account, chat_id: str, account_id: str | None) -> Chat:
        """The chat of a `/api/chat/{chatId}/…` route as the service checks it there
        (`lib/chat/validateChatOwnership.ts`): the `?account_id=` override (403 when the caller may
        not act for it), zod 4's UUID (400), then existence (404) and ownership (403)."""
        if account_id is not None:
            if not account.may_act_for(account_id):
                raise AccountAccessDenied()
            account = Account(id=account_id, api_keys=())
        if not is_strict_uuid(chat_id):
            raise InvalidUUID("chatId")
        return await self.owned_chat(account, chat_id)

    # Generating, resuming, stopping

    async def start_generation(
        self,
        chat_id: str,
        answer: Answer,
        *,
        fault: Fault | None = None,
        prompt: Message | None = None,
        busy_message: str | None = None,
        model_id: str = DEFAULT_MODEL_ID,
    ) -> Run:
        """Claim an idle chat, store `prompt` (a user message) if given, then start generating.

        Raises `ChatBusy` (with `busy_message`, if given) when the chat is already claimed or generating.
        """
        if self.generations.full():
            raise TooManyGenerations()
        claim = new_claim()
        # The prompt is stored with the claim, in one step: a prompt the store has no room for
        # leaves the chat as it was.
        if not await self.store.swap_active_stream(
            chat_id, None, claim, adding=prompt, keep_last=self.max_messages
        ):
            raise ChatBusy(busy_message)
        return await self.generations.start(chat_id, claim, answer, fault=fault, model_id=model_id)

    async def send(self, account: Account, session_id: str, chat_id: str, messages: list[Message]) -> Sent:
        """Start answering the last user message, or, while an answer runs, follow that one from
        its first chunk (`lib/chat/maybeResumeChatStream.ts`; the message is not kept then)."""
        require_uuid(chat_id, "chatId")
        require_uuid(session_id, "sessionId")
        new_message = messages[-1]
        chat = await self.owned_chat(account, chat_id)
        if chat.session_id != session_id:
            raise ChatNotFound()
        live = await self._live_run(chat)
        if live is not None:
            # The service pipes the live run's readable back unwatched: leaving it cancels nothing.
            return Sent(live.id, self._follow(live, cancel_on_drop=False), resumed=True)
        prompt = new_message if new_message.get("role") == "user" else None
        default = None if chat.answer else await self.store.default_answer()
        answer = chat.answer or default or agent_answer(message_text(new_message))
        if is_recorded(answer):  # its replies answer the chat's messages in order
            said = sum(1 for m in await self.store.messages(chat.id) if m.get("role") == "assistant")
            answer = reply_to(answer, said)
        run = await self.start_generation(chat.id, answer, prompt=prompt, model_id=chat.model_id)
        return Sent(run.id, self._follow(run))

    async def _live_run(self, chat: Chat) -> Run | None:
        """The run answering the chat, or None once the slot is free; a finished run still in the
        slot is cleared first. `ChatBusy` when a send's claim holds the chat or clearing loses the
        race (`lib/chat/reconcileExistingActiveStream.ts`)."""
        stream_id = chat.active_stream_id
        if stream_id is None:
            return None
        if is_claim(stream_id):
            raise ChatBusy()
        run = await self.store.get_run(stream_id)
        if run is not None and not run.status.terminal:
            return run
        if not await self.store.swap_active_stream(chat.id, stream_id, None):
            raise ChatBusy()
        return None

    def _follow(self, run: Run, start: int = 0, *, cancel_on_drop: bool = True) -> AsyncIterator[Chunk]:
        return self.followers.follow(
            run.id,
            start,
            cancel_on_drop=cancel_on_drop and self.cancel_dropped,
            drops=run.fault is Fault.DROP_STREAM,
        )

    async def resume(
        self, account: Account, chat_id: str, start_index: int, account_id: str | None = None
    ) -> Resumed | None:
        """The running generation from chunk `start_index` on, or None when nothing runs; a run
        that has ended is cleared from the chat's slot (`lib/chat/handleResumeChatStream.ts`)."""
        chat = await self.chat_of_route(account, chat_id, account_id)
        if start_index < 0:
            raise InvalidInput("startIndex must be a non-negative integer", ["startIndex"])
        run_id = chat.active_stream_id
        if run_id is None:
            return None
        if is_claim(run_id):
            raise RunUnreadable()
        run = await self.store.get_run(run_id)
        # A run no longer kept (past `--run-retention`) has ended: the service's runs stay readable.
        if run is None or run.status.terminal:
            await self.store.swap_active_stream(chat.id, run_id, None)
            return None
        tail = await self.store.chunk_count(run_id) - 1
        return Resumed(run_id, tail, self._follow(run, start_index))

    async def stop(self, account: Account, chat_id: str, account_id: str | None = None) -> bool:
        """Stop the chat's running response; True when this call stopped one."""
        chat = await self.chat_of_route(account, chat_id, account_id)
        stream_id = chat.active_stream_id
        if stream_id is None:
            return False
        if is_claim(stream_id):
            return await self.store.swap_active_stream(chat.id, stream_id, None)
        return await self.generations.cancel(stream_id)

    async def delete_chat(self, account: Account, session_id: str, chat_id: str) -> None:
        """Delete a chat (see `Sessions.remove_chat`); an answer it was generating when it was
        removed is stopped, as it has nowhere left to be saved (the mock's choice: the service
        deletes the row and lets its run go on)."""
        active = await self.sessions.remove_chat(account, session_id, chat_id)
        if active is not None and not is_claim(active):
            await self.store.request_cancel(active)

    # Operating the mock (admin API, seeding)

    async def generate(self, chat_id: str, answer: Answer | None, *, fault: Fault | None) -> Run:
        """Start a generation on an idle chat on nobody's behalf (how faults are set on real chats);
        without an answer, the chat's scripted one, else a text that streams until stopped."""
        require_uuid(chat_id, "chatId")
        chat = await self.store.get_chat(chat_id)
        if chat is None:
            raise ChatNotFound()
        answer = answer or chat.answer or text_only(UNTIL_STOPPED, repeat=True)
        return await self.start_generation(
            chat.id,
            answer,
            fault=fault,
            busy_message="The chat is already generating",
            model_id=chat.model_id,
        )

    async def set_default_answer(self, answer: Answer | None) -> None:
        """The answer to messages in chats without their own; None: `agent_answer` of the message."""
        await self.store.set_default_answer(answer)

    async def add_account(self, account: Account) -> None:
        await self.store.add_account(account)

    async def add_session(self, session: Session) -> None:
        await self.store.add_session(session)

    async def add_chat(self, chat: Chat, messages: list[Message]) -> None:
        await self.store.add_chat(chat)
        for message in messages:
            await self.store.append_message(chat.id, message)

    async def reset(self) -> None:
        """Stop every generation, whichever process runs it, then forget everything stored."""
        await self.generations.stop_everywhere()
        await self.generations.close(wait=None)
        await self.store.clear()

    async def close(self) -> None:
        await self.generations.close()
        await self.followers.aclose()

    async def cancel_all(self, grace: float) -> int:
        """Shutting down: end every running answer as a stop does (see `Generations.cancel_all`),
        and the streams of answers generated in other processes (see `Followers`)."""
        self.followers.close()
        return await self.generations.cancel_all(grace)

    async def generation(self, run_id: str | None) -> GenerationView | None:
        return await generation_view(self.store, run_id)

    async def state(self, offset: int = 0, limit: int = 0) -> StatePage:
        """Every account, the sessions of one page (all for `limit` 0) and what is running."""
        return await state_page(self.store, await self.store.running_runs(), offset, limit)
