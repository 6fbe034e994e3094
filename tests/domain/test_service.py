"""The chat service on its own: the stop's order of checks, its outcomes and races, without HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from unittest.mock import ANY

import pytest

from mock_server.domain import chunks as ui
from mock_server.domain import errors
from mock_server.domain.answers import Reasoning, Text, ToolCall, text_only
from mock_server.domain.generation import Generations, Pacing
from mock_server.domain.models import Account, Chat, Fault, RunStatus, is_claim, new_claim, new_id
from mock_server.domain.runs import RunRequest, start_run
from mock_server.domain.service import ChatService
from mock_server.domain.store import MemoryStore

A = Account(id="artist-a", api_keys=("key-a",))
B = Account(id="artist-b", api_keys=("key-b",))
PACE = 0.02
PACING = Pacing(first_token=PACE, tokens_per_second=1 / PACE, tool_seconds=PACE * 5)
STOP_TIMEOUT = 0.3


@pytest.fixture
async def service() -> AsyncIterator[ChatService]:
    store = MemoryStore()
    service = ChatService(store, Generations(store, pacing=PACING, stop_timeout=STOP_TIMEOUT))
    await service.add_account(A)
    await service.add_account(B)
    yield service
    await service.close()


async def new_chat(service: ChatService, account: Account = A) -> Chat:
    _, chat = await service.sessions.create_session(account, title="test")
    return chat


def user_message(text: str) -> dict[str, object]:
    return {"id": new_id(), "role": "user", "parts": [{"type": "text", "text": text}]}


async def generating(service: ChatService, account: Account = A, **options: object) -> Chat:
    """A chat of `account` with a long generation running."""
    chat = await new_chat(service, account)
    fault = options.get("fault")
    assert fault is None or isinstance(fault, Fault)
    await service.generate(chat.id, text_only("one two three " * 50, repeat=True), fault=fault)
    return chat


async def active_stream(service: ChatService, chat: Chat) -> str | None:
    stored = await service.store.get_chat(chat.id)
    assert stored is not None
    return stored.active_stream_id


# Identity and the order of checks


async def test_an_unknown_key_is_unauthenticated(service: ChatService):
    assert await service.authenticate("key-a") == A
    with pytest.raises(errors.UnknownCredentials):
        await service.authenticate("nope")


async def test_a_non_uuid_chat_id_is_invalid_before_any_lookup(service: ChatService):
    with pytest.raises(errors.InvalidUUID, match="chatId must be a valid UUID"):
        await service.stop(A, "not-a-uuid")


@pytest.mark.parametrize(
    "chat_id",
    [
        "12345678-1234-1234-1234-123456789abc",  # version digit 1, variant digit 1
        "12345678-1234-0234-8234-123456789abc",  # version 0
        "12345678-1234-4234-c234-123456789abc",  # variant c
        "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",  # the max UUID in capitals
    ],
)
async def test_a_chat_id_that_is_not_an_rfc_9562_uuid_is_invalid_on_the_chat_routes(
    service: ChatService, chat_id: str
):
    with pytest.raises(errors.InvalidUUID, match="chatId must be a valid UUID"):
        await service.stop(A, chat_id)
    with pytest.raises(errors.InvalidUUID):
        await service.resume(A, chat_id, 0)


@pytest.mark.parametrize(
    "chat_id",
    [
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        "3F2504E0-4F89-41D3-9A0C-0305E82C3301",
    ],
)
async def test_the_nil_and_max_uuids_and_capitals_are_uuids(service: ChatService, chat_id: str):
    with pytest.raises(errors.ChatNotFound):
        await service.stop(A, chat_id)


async def test_account_id_of_an_account_the_key_may_not_act_for_is_403_before_the_uuid_check(
    service: ChatService,
):
    with pytest.raises(errors.AccountAccessDenied, match="Access denied to specified account_id"):
        await service.stop(A, "not-a-uuid", B.id)
    with pytest.raises(errors.InvalidUUID):
        await service.stop(A, "not-a-uuid", A.id)  # one's own account is always allowed


async def test_an_organization_key_acts_for_its_member_with_account_id(service: ChatService):
    org = Account(id="label", api_keys=("key-org",), acts_for=(A.id,))
    await service.add_account(org)
    chat = await generating(service, A)
    with pytest.raises(errors.Forbidden):
        await service.stop(org, chat.id)  # without the override, the chat is not the label's
    assert await service.stop(org, chat.id, A.id) is True
    with pytest.raises(errors.AccountAccessDenied):
        await service.stop(org, chat.id, B.id)


async def test_an_unknown_chat_is_not_found(service: ChatService):
    with pytest.raises(errors.ChatNotFound):
        await service.stop(A, new_id())


async def test_a_foreign_chat_is_forbidden_and_keeps_generating(service: ChatService):
    chat = await generating(service, B)
    run_id = await active_stream(service, chat)
    with pytest.raises(errors.Forbidden):
        await service.stop(A, chat.id)
    assert await active_stream(service, chat) == run_id
    run = await service.store.get_run(run_id or "")
    assert run is not None and run.status is RunStatus.RUNNING


# Stop outcomes


async def test_stop_with_nothing_running_is_false_every_time(service: ChatService):
    chat = await new_chat(service)
    assert [await service.stop(A, chat.id) for _ in range(3)] == [False, False, False]


async def test_stop_of_a_running_generation_is_true_once_then_false(service: ChatService):
    chat = await generating(service)
    run_id = await active_stream(service, chat)
    assert await service.stop(A, chat.id) is True
    assert await service.stop(A, chat.id) is False
    assert await active_stream(service, chat) is None
    run = await service.store.get_run(run_id or "")
    assert run is not None and run.status is RunStatus.CANCELLED


async def test_concurrent_stops_have_exactly_one_winner(service: ChatService):
    chat = await generating(service)
    results = await asyncio.gather(*(service.stop(A, chat.id) for _ in range(20)))
    assert results.count(True) == 1
    assert await active_stream(service, chat) is None


async def test_a_stop_between_claim_and_start_releases_the_chat(service: ChatService):
    chat = await new_chat(service)
    claim = new_claim()
    assert await service.store.swap_active_stream(chat.id, None, claim)
    assert is_claim(claim)
    assert await service.stop(A, chat.id) is True
    with pytest.raises(errors.ChatBusy, match="stopped before its response started"):
        await service.generations.start(chat.id, claim, "late")
    assert await active_stream(service, chat) is None


async def test_a_failing_cancel_is_stop_failed_and_the_chat_stays_generating(service: ChatService):
    chat = await generating(service, fault=Fault.CANCEL_FAILS)
    run_id = await active_stream(service, chat)
    with pytest.raises(errors.StopFailed):
        await service.stop(A, chat.id)
    assert await active_stream(service, chat) == run_id


async def test_a_generation_that_ignores_cancel_times_the_stop_out(service: ChatService):
    chat = await generating(service, fault=Fault.IGNORE_CANCEL)
    run_id = await active_stream(service, chat)
    with pytest.raises(errors.StopTimedOut):
        await service.stop(A, chat.id)
    assert await active_stream(service, chat) == run_id


async def test_a_stopped_answer_keeps_what_was_said(service: ChatService):
    chat = await generating(service)
    await asyncio.sleep(PACE * 6)
    await service.stop(A, chat.id)
    _, messages = await service.sessions.session_chat(A, chat.session_id, chat.id)
    [answer] = messages
    assert answer["role"] == "assistant"
    assert answer["metadata"] == {"status": "cancelled"}
    [step, text] = answer["parts"]
    assert step == {"type": "step-start"}
    assert text["type"] == "text" and text["state"] == "streaming"
    assert text["text"].startswith("one two")


# Sending and resuming


async def test_a_second_message_while_answering_follows_the_live_answer_from_its_start(
    service: ChatService,
):
    chat = await new_chat(service)
    first = await service.send(A, chat.session_id, chat.id, [user_message("first")])
    second = await service.send(A, chat.session_id, chat.id, [user_message("second")])
    assert second.resumed and second.run_id == first.run_id
    assert await anext(second.chunks) == {"type": "start", "messageId": ANY}
    _, messages = await service.sessions.session_chat(A, chat.session_id, chat.id)
    assert [m["parts"][0]["text"] for m in messages] == ["first"]  # the second is not kept


async def test_a_chat_claimed_by_a_send_refuses_another_message(service: ChatService):
    chat = await new_chat(service)
    assert await service.store.swap_active_stream(chat.id, None, new_claim())
    with pytest.raises(errors.ChatBusy, match="Another workflow is already running"):
        await service.send(A, chat.session_id, chat.id, [user_message("second")])


async def test_a_finished_run_left_in_the_slot_is_cleared_and_a_new_one_starts(service: ChatService):
    chat = await new_chat(service)
    first = await service.send(A, chat.session_id, chat.id, [user_message("first")])
    await service.store.finish_run(first.run_id, RunStatus.FAILED, keep_for=60)
    second = await service.send(A, chat.session_id, chat.id, [user_message("second")])
    assert not second.resumed and second.run_id != first.run_id


async def test_after_a_stop_the_chat_accepts_a_new_message(service: ChatService):
    chat = await new_chat(service)
    await service.send(A, chat.session_id, chat.id, [user_message("first")])
    await asyncio.sleep(PACE * 6)
    assert await service.stop(A, chat.id) is True
    sent = await service.send(A, chat.session_id, chat.id, [user_message("second")])
    received = [chunk async for chunk in sent.chunks]
    assert received[0]["type"] == "start"
    assert received[-1] == {"type": "finish"}
    assert await active_stream(service, chat) is None
    _, messages = await service.sessions.session_chat(A, chat.session_id, chat.id)
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]


async def test_a_sent_message_streams_until_finish_and_frees_the_chat(service: ChatService):
    chat = await new_chat(service)
    sent = await service.send(A, chat.session_id, chat.id, [user_message("hello")])
    types = [chunk["type"] async for chunk in sent.chunks]
    assert types[:3] == ["start", "start-step", "reasoning-start"]
    assert "tool-output-available" in types
    assert types[-4:] == ["text-end", "finish-step", "message-metadata", "finish"]
    assert await active_stream(service, chat) is None


async def test_resume_is_none_when_nothing_runs_and_replays_from_an_index(service: ChatService):
    chat = await new_chat(service)
    assert await service.resume(A, chat.id, 0) is None
    sent = await service.send(A, chat.session_id, chat.id, [user_message("hello")])
    resumed = await service.resume(A, chat.id, 1)
    assert resumed is not None and resumed.run_id == sent.run_id
    first = await anext(resumed.chunks)
    assert first == {"type": "start-step"}
    with pytest.raises(errors.InvalidInput):
        await service.resume(A, chat.id, -1)


async def test_resume_of_a_run_that_ended_in_the_slot_is_none_and_frees_the_chat(service: ChatService):
    chat = await new_chat(service)
    sent = await service.send(A, chat.session_id, chat.id, [user_message("hello")])
    await service.store.finish_run(sent.run_id, RunStatus.FAILED, keep_for=60)
    assert await service.resume(A, chat.id, 0) is None
    assert await active_stream(service, chat) is None


async def test_a_run_no_longer_kept_reads_as_ended_on_resume_and_send(service: ChatService):
    # Past --run-retention the mock forgets a run; the service's runs stay readable, as ended.
    chat = await new_chat(service)
    assert await service.store.swap_active_stream(chat.id, None, "run_forgotten")
    assert await service.resume(A, chat.id, 0) is None
    assert await active_stream(service, chat) is None
    assert await service.store.swap_active_stream(chat.id, None, "run_forgotten")
    sent = await service.send(A, chat.session_id, chat.id, [user_message("hello")])
    assert sent.run_id != "run_forgotten" and not sent.resumed


async def test_resume_of_a_chat_held_by_a_claim_cannot_read_the_run(service: ChatService):
    chat = await new_chat(service)
    assert await service.store.swap_active_stream(chat.id, None, new_claim())
    with pytest.raises(errors.RunUnreadable, match="Failed to read the workflow run"):
        await service.resume(A, chat.id, 0)


# Leaving a stream


async def _read_and_leave(chunks: AsyncIterator[dict[str, object]], count: int) -> None:
    async for _ in chunks:
        count -= 1
        if count == 0:
            break
    await chunks.aclose()  # type: ignore[attr-defined]


async def test_a_client_that_leaves_its_answer_stops_it(service: ChatService):
    chat = await new_chat(service)
    sent = await service.send(A, chat.session_id, chat.id, [user_message("hello")])
    await _read_and_leave(sent.chunks, 3)
    finished = await service.store.wait_finished(sent.run_id, 2.0)
    assert finished is RunStatus.CANCELLED
    assert await active_stream(service, chat) is None


async def test_a_client_that_leaves_a_resumed_stream_stops_the_answer(service: ChatService):
    chat = await generating(service)
    resumed = await service.resume(A, chat.id, 0)
    assert resumed is not None
    await _read_and_leave(resumed.chunks, 3)
    assert await service.store.wait_finished(resumed.run_id, 2.0) is RunStatus.CANCELLED


async def test_leaving_the_stream_a_second_send_was_given_stops_nothing(service: ChatService):
    chat = await generating(service)
    again = await service.send(A, chat.session_id, chat.id, [user_message("again")])
    assert again.resumed
    await _read_and_leave(again.chunks, 3)
    await service.followers.aclose()  # every cancel a reader left behind has been sent
    assert not await service.store.wait_cancel_requested(again.run_id, 0)
    assert await active_stream(service, chat) == again.run_id


async def test_with_cancel_dropped_off_a_left_answer_goes_on(service: ChatService):
    service.cancel_dropped = False
    chat = await new_chat(service)
    sent = await service.send(A, chat.session_id, chat.id, [user_message("hello")])
    await _read_and_leave(sent.chunks, 3)
    await service.followers.aclose()
    assert not await service.store.wait_cancel_requested(sent.run_id, 0)
    assert await active_stream(service, chat) == sent.run_id


async def test_a_stream_the_server_ends_on_shutdown_cancels_nothing(service: ChatService):
    # Past the graceful part of a shutdown the server cancels the streams still open; their run
    # (another process's, on a shared store) was not left by its client.
    chat = await new_chat(service)
    sent = await service.send(A, chat.session_id, chat.id, [user_message("hello")])
    await anext(sent.chunks)
    service.followers.close()
    await _read_and_leave(sent.chunks, 1)
    await service.followers.aclose()
    assert not await service.store.wait_cancel_requested(sent.run_id, 0)


async def test_each_stream_of_a_drop_stream_run_ends_after_a_pause_and_the_run_goes_on(
    service: ChatService,
):
    chat = await new_chat(service)
    answer = (Reasoning("Let me look."), ToolCall("lookup", {"q": "x"}, {"n": 1}), Text("Found one."))
    run = await service.generate(chat.id, answer, fault=Fault.DROP_STREAM)
    streams: list[list[str]] = []
    read = 0
    while (resumed := await service.resume(A, chat.id, read)) is not None:
        types: list[str] = []
        try:
            async for chunk in resumed.chunks:
                types.append(chunk["type"])
        except errors.StreamDropped:
            types.append("(dropped)")
        streams.append(types)
        read += len(types) - types.count("(dropped)")
        if types[-1] != "(dropped)":
            break
    ends = [types[-2:] for types in streams]
    assert ends == [
        ["start-step", "(dropped)"],
        ["tool-input-available", "(dropped)"],
        ["start-step", "(dropped)"],
        ["message-metadata", "finish"],
    ]
    whole = [chunk["type"] for chunk in ui.answer_chunks("m", answer)]
    assert [t for types in streams for t in types if t != "(dropped)"] == whole
    assert await service.store.wait_finished(run.id, 2.0) is RunStatus.COMPLETED


# Sessions and chats


async def test_creating_a_chat_is_idempotent_on_its_id(service: ChatService):
    chat = await new_chat(service)
    assert await service.sessions.create_chat(A, chat.session_id, chat.id) == chat
    _, other = await service.sessions.create_session(A)
    with pytest.raises(errors.ChatIdConflict, match="Chat ID conflict"):
        await service.sessions.create_chat(A, other.session_id, chat.id)
    with pytest.raises(errors.InvalidChatId, match="Invalid chat id"):
        await service.sessions.create_chat(A, chat.session_id, "nope")


async def test_state_shows_each_chat_and_its_generation(service: ChatService):
    chat = await generating(service)
    page = await service.state()
    [account_a, account_b] = sorted(page.accounts, key=lambda view: view.account.id)
    assert account_a.account == A and account_b.sessions == ()
    [session] = account_a.sessions
    [view] = session.chats
    assert view.chat.id == chat.id
    assert view.generation is not None
    assert view.generation.run.status is RunStatus.RUNNING
    [running] = page.running
    assert (running.generation.run.chat_id, running.account_id) == (chat.id, A.id)


async def test_state_pages_through_sessions_and_lists_every_running_answer(service: ChatService):
    chats = [await new_chat(service) for _ in range(5)]
    await service.generate(chats[0].id, None, fault=None)
    first = await service.state(0, 2)
    assert sum(len(a.sessions) for a in first.accounts) == 2
    assert (first.sessions, first.next_offset) == (5, 2)
    last = await service.state(4, 2)
    assert sum(len(a.sessions) for a in last.accounts) == 1 and last.next_offset is None
    assert [r.generation.run.chat_id for r in last.running] == [chats[0].id], "running, whatever the page"


async def test_a_break_inside_a_tool_call_cancels_the_call_before_the_error(service: ChatService):
    chat = await new_chat(service)
    # Its input streams in many deltas, so the break (half-way through the steps) lands among them.
    answer = (ToolCall("lookup", {"query": "tour dates in the spring " * 8}, {"n": 1}),)
    run = await service.generate(chat.id, answer, fault=Fault.BREAK_STREAM)
    chunks = [chunk async for chunk in service.store.follow_chunks(run.id)]
    assert [chunk["type"] for chunk in chunks[-4:]] == [
        "tool-input-available",
        "tool-output-error",
        "error",
        "finish",
    ]
    assert chunks[-4]["input"] == {} and chunks[-3]["errorText"] == "Cancelled"
    [saved] = [m for m in await service.store.messages(chat.id) if m["role"] == "assistant"]
    assert saved["parts"][-1]["state"] == "output-error"


async def test_a_headless_run_needs_one_non_blank_prompt_or_messages_as_js_trims_it(service: ChatService):
    # JavaScript's `trim()` (the service's) removes U+FEFF too; Python's `strip()` does not.
    for request in (
        RunRequest(prompt="\ufeff "),
        RunRequest(),
        RunRequest(prompt="x", messages=[user_message("y")]),
    ):
        with pytest.raises(
            errors.PromptOrMessages, match="Exactly one of prompt or messages must be provided"
        ):
            await start_run(service, A, request)
    started = await start_run(service, A, RunRequest(prompt=" \ufeffPlan my tour "))
    [prompt] = [m for m in await service.store.messages(started.chat_id) if m["role"] == "user"]
    assert prompt["parts"] == [{"type": "text", "text": "Plan my tour"}]


async def test_a_run_in_an_organization_needs_the_account_to_be_its_member(service: ChatService):
    await service.add_account(Account(id="label", api_keys=("label-key",), acts_for=(A.id,)))
    assert (await start_run(service, A, RunRequest(prompt="x", organization_id="label"))).run_id
    assert (await start_run(service, A, RunRequest(prompt="x", organization_id=A.id))).run_id
    with pytest.raises(errors.OrganizationAccessDenied):
        await start_run(service, B, RunRequest(prompt="x", organization_id="label"))


async def test_a_run_refused_for_too_many_answers_leaves_no_session(service: ChatService):
    service.generations.max_running = 1
    await start_run(service, A, RunRequest(prompt="x"))
    before = await service.store.sessions(A.id)
    with pytest.raises(errors.TooManyGenerations):
        await start_run(service, A, RunRequest(prompt="y"))
    assert await service.store.sessions(A.id) == before
