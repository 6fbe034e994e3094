"""What every `ChatStore` must do, written once against the interface and run on each store
(the `store` fixture of `conftest.py`: in memory, and in a real Redis).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from mock_server.domain.answers import text_only
from mock_server.domain.errors import StoreFull, TooManyChats
from mock_server.domain.models import Account, Chat, ChatRemoval, Run, RunStatus, Session, new_id
from mock_server.domain.store import ChatStore
from mock_server.domain.store.space import chat_size, message_size

RACERS = 50
LEASE = 60.0


async def a_chat(store: ChatStore, account_id: str = "acct") -> Chat:
    session = Session(id=new_id(), account_id=account_id, title="s")
    await store.add_session(session)
    return await store.add_chat(Chat(id=new_id(), session_id=session.id))


async def a_run(store: ChatStore, chat: Chat | None = None) -> Run:
    chat = chat or await a_chat(store)
    run = Run(id=f"run_{new_id()}", chat_id=chat.id, message_id=new_id(), answer=text_only("hello"))
    await store.add_run(run, LEASE)
    return run


async def collect(chunks: AsyncIterator[dict[str, object]]) -> list[dict[str, object]]:
    return [chunk async for chunk in chunks]


# Accounts, sessions, chats, messages


async def test_a_key_finds_its_account_and_an_unknown_key_none(store: ChatStore):
    account = Account(id="a", api_keys=("k1", "k2"), acts_for=("b", "c"))
    await store.add_account(account)
    assert await store.account_for_key("k1") == account
    assert await store.account_for_key("k2") == account
    assert await store.account_for_key("k3") is None
    assert await store.accounts() == [account]


async def test_sessions_are_listed_per_account(store: ChatStore):
    mine = Session(id=new_id(), account_id="a", title="mine")
    theirs = Session(id=new_id(), account_id="b", title="theirs")
    await store.add_session(mine)
    await store.add_session(theirs)
    assert await store.get_session(mine.id) == mine
    assert await store.get_session(new_id()) is None
    assert await store.sessions("a") == [mine]


async def test_storing_a_session_again_replaces_it_in_its_accounts_list(store: ChatStore):
    session = Session(id=new_id(), account_id="a", title="first")
    await store.add_session(session)
    renamed = Session(id=session.id, account_id="a", title="renamed")
    await store.add_session(renamed)
    assert await store.sessions("a") == [renamed]


async def test_lists_hold_only_their_own_records_in_the_order_added(store: ChatStore):
    sessions = [Session(id=new_id(), account_id=f"acct-{i % 2}", title=str(i)) for i in range(6)]
    for session in sessions:
        await store.add_session(session)
    assert await store.sessions("acct-0") == sessions[0::2]
    chats = [Chat(id=new_id(), session_id=sessions[i % 2].id) for i in range(6)]
    for chat in chats:
        await store.add_chat(chat)
    assert await store.chats(sessions[1].id) == chats[1::2]


async def test_adding_a_chat_twice_keeps_the_first(store: ChatStore):
    first = await a_chat(store)
    other_session = Session(id=new_id(), account_id="acct", title="other")
    await store.add_session(other_session)
    again = await store.add_chat(Chat(id=first.id, session_id=other_session.id, title="second"))
    assert again == first
    assert await store.get_chat(first.id) == first
    assert await store.chats(first.session_id) == [first]
    assert await store.chats(other_session.id) == []


async def test_messages_keep_their_order_and_an_answer_stamps_the_chat(store: ChatStore):
    chat = await a_chat(store)
    question = {"id": "m1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}
    answer = {"id": "m2", "role": "assistant", "parts": [{"type": "text", "text": "hello"}]}
    await store.append_message(chat.id, question)
    assert (await store.get_chat(chat.id)).last_assistant_message_at is None
    await store.append_message(chat.id, answer)
    assert await store.messages(chat.id) == [question, answer]
    assert (await store.get_chat(chat.id)).last_assistant_message_at is not None


async def test_a_stored_session_keeps_its_status_and_counts(store: ChatStore):
    session = Session(id=new_id(), account_id="acct", title="s", status="archived", lines_added=3)
    await store.add_session(replace(session, lifecycle_state="archived"))
    assert await store.get_session(session.id) == replace(session, lifecycle_state="archived")


async def test_a_session_change_is_made_on_the_session_as_stored(store: ChatStore):
    session = Session(id=new_id(), account_id="acct", title="s")
    await store.add_session(session)
    changed = await store.update_session(session.id, lambda s: replace(s, lines_added=1))
    assert changed == replace(session, lines_added=1)
    assert await store.get_session(session.id) == changed
    assert await store.update_session(session.id, lambda s: None) == changed, "None leaves it as it is"
    assert await store.update_session(new_id(), lambda s: replace(s, title="x")) is None


async def test_concurrent_session_changes_across_processes_are_all_kept(
    store_pair: tuple[ChatStore, ChatStore],
):
    one, two = store_pair
    session = Session(id=new_id(), account_id="acct", title="s")
    await one.add_session(session)

    def one_more(s: Session) -> Session:
        return replace(s, lines_added=(s.lines_added or 0) + 1)

    stores = [one if i % 2 else two for i in range(RACERS)]
    await asyncio.gather(*[store.update_session(session.id, one_more) for store in stores])
    assert (await two.get_session(session.id)).lines_added == RACERS


async def test_a_forgotten_session_is_not_brought_back_by_a_change(store: ChatStore):
    chat = await a_chat(store)
    await store.add_chat(Chat(id=new_id(), session_id=new_id()), max_chats=1)  # evicts the chat
    assert await store.get_chat(chat.id) is None
    assert await store.update_session(chat.session_id, lambda s: replace(s, title="back")) is None
    assert await store.get_session(chat.session_id) is None
    assert await store.sessions("acct") == []


async def test_a_chat_update_changes_only_the_fields_given_and_stamps_it(store: ChatStore):
    chat = await a_chat(store)
    assert await store.swap_active_stream(chat.id, None, "run_1")
    held = await store.get_chat(chat.id)
    await asyncio.sleep(0.002)  # a new millisecond for the stamp
    renamed = await store.update_chat(chat.id, title="Tour plans")
    assert renamed is not None
    assert (renamed.title, renamed.model_id, renamed.active_stream_id) == (
        "Tour plans",
        chat.model_id,
        "run_1",
    )
    assert renamed.updated_at > held.updated_at
    remodelled = await store.update_chat(chat.id, model_id="other-model")
    assert (remodelled.title, remodelled.model_id) == ("Tour plans", "other-model")
    assert await store.get_chat(chat.id) == remodelled
    assert await store.chats(chat.session_id) == [remodelled]
    assert await store.update_chat(new_id(), title="x") is None


async def test_a_chat_is_removed_with_its_messages_but_never_a_sessions_last(store: ChatStore):
    first = await a_chat(store)
    second = await store.add_chat(Chat(id=new_id(), session_id=first.session_id))
    await store.append_message(second.id, {"id": "m1", "role": "user", "parts": []})
    await store.mark_read(second.id, "acct", "2026-01-01T00:00:00.000Z")
    assert await store.swap_active_stream(second.id, None, "run_2")
    assert await store.remove_chat(new_id(), second.id) == (ChatRemoval.MISSING, None), "not that session's"
    assert await store.remove_chat(first.session_id, second.id) == (ChatRemoval.REMOVED, "run_2")
    assert await store.get_chat(second.id) is None
    assert await store.messages(second.id) == []
    assert await store.read_marks("acct", [second.id]) == {}
    assert await store.chats(first.session_id) == [first]
    assert await store.chat_count() == 1
    assert await store.remove_chat(first.session_id, second.id) == (ChatRemoval.MISSING, None)
    assert await store.remove_chat(first.session_id, first.id) == (ChatRemoval.ONLY_CHAT, None)
    assert await store.get_chat(first.id) == first


async def test_concurrent_removals_across_processes_leave_a_session_one_chat(
    store_pair: tuple[ChatStore, ChatStore],
):
    one, two = store_pair
    first = await a_chat(one)
    chats = [first, *[await one.add_chat(Chat(id=new_id(), session_id=first.session_id)) for _ in range(9)]]
    outcomes = await asyncio.gather(
        *[(one if i % 2 else two).remove_chat(first.session_id, c.id) for i, c in enumerate(chats)]
    )
    assert [outcome for outcome, _ in outcomes].count(ChatRemoval.REMOVED) == 9
    assert [outcome for outcome, _ in outcomes].count(ChatRemoval.ONLY_CHAT) == 1
    assert len(await one.chats(first.session_id)) == 1


async def test_read_marks_are_per_account_and_only_for_stored_chats(store: ChatStore):
    chat = await a_chat(store)
    other = await a_chat(store)
    assert await store.read_marks("acct", [chat.id, other.id]) == {}
    assert await store.mark_read(chat.id, "acct", "2026-01-01T00:00:00.000Z")
    assert await store.mark_read(chat.id, "acct", "2026-01-02T00:00:00.000Z")
    assert await store.read_marks("acct", [chat.id, other.id]) == {chat.id: "2026-01-02T00:00:00.000Z"}
    assert await store.read_marks("someone-else", [chat.id]) == {}
    assert not await store.mark_read(new_id(), "acct", "2026-01-01T00:00:00.000Z")


async def test_a_caller_cannot_change_stored_messages(store: ChatStore):
    chat = await a_chat(store)
    await store.append_message(chat.id, {"id": "m1", "role": "user", "parts": []})
    (await store.messages(chat.id)).clear()
    assert len(await store.messages(chat.id)) == 1


# The active stream: compare-and-set


async def test_swap_sets_the_active_stream_only_from_the_expected_value(store: ChatStore):
    chat = await a_chat(store)
    assert await store.swap_active_stream(chat.id, None, "run-1")
    assert not await store.swap_active_stream(chat.id, None, "run-2")
    assert (await store.get_chat(chat.id)).active_stream_id == "run-1"


async def test_release_clears_only_the_same_stream(store: ChatStore):
    chat = await a_chat(store)
    await store.swap_active_stream(chat.id, None, "run-1")
    assert not await store.swap_active_stream(chat.id, "run-0", None)
    assert (await store.get_chat(chat.id)).active_stream_id == "run-1"
    assert await store.swap_active_stream(chat.id, "run-1", None)
    assert (await store.get_chat(chat.id)).active_stream_id is None


async def test_swap_on_an_unknown_chat_is_refused(store: ChatStore):
    assert not await store.swap_active_stream(new_id(), None, "run-1")


async def test_concurrent_releases_have_exactly_one_winner(store: ChatStore):
    chat = await a_chat(store)
    await store.swap_active_stream(chat.id, None, "run-1")
    results = await asyncio.gather(*(store.swap_active_stream(chat.id, "run-1", None) for _ in range(RACERS)))
    assert results.count(True) == 1


async def test_concurrent_claims_have_exactly_one_winner(store: ChatStore):
    chat = await a_chat(store)
    results = await asyncio.gather(
        *(store.swap_active_stream(chat.id, None, f"claim-{i}") for i in range(RACERS))
    )
    assert results.count(True) == 1


# Runs: the chunk log


async def test_append_chunk_returns_the_new_length(store: ChatStore):
    run = await a_run(store)
    assert await store.chunk_count(run.id) == 0
    assert await store.append_chunk(run.id, {"type": "start"}) == 1
    assert await store.append_chunk(run.id, {"type": "start-step"}) == 2
    assert await store.chunk_count(run.id) == 2
    assert await store.get_run(run.id) == run


async def test_chunks_appended_together_land_in_order_and_a_follower_reads_them_all(store: ChatStore):
    run = await a_run(store)
    follower = asyncio.create_task(collect(store.follow_chunks(run.id)))
    await asyncio.sleep(0)
    assert await store.append_chunk(run.id, {"type": "start"}) == 1
    ending = [{"type": "tool-output-error", "toolCallId": "t1"}, {"type": "abort"}, {"type": "finish"}]
    assert await store.append_chunks(run.id, ending) == 4
    assert await store.append_chunks(run.id, []) == 4
    await store.finish_run(run.id, RunStatus.CANCELLED)
    assert await store.append_chunks(run.id, [{"type": "start"}]) == 4, "a finished run's log stays"
    assert await asyncio.wait_for(follower, 2) == [{"type": "start"}, *ending]
    assert await store.chunks(run.id) == [{"type": "start"}, *ending]


async def test_follow_from_an_index_yields_the_rest_then_waits_until_finished(store: ChatStore):
    run = await a_run(store)
    for index in range(3):
        await store.append_chunk(run.id, {"type": "text-delta", "delta": str(index)})
    follower = asyncio.create_task(collect(store.follow_chunks(run.id, 1)))
    await asyncio.sleep(0.05)
    assert not follower.done(), "a follower ends only when the run has finished"
    await store.append_chunk(run.id, {"type": "text-delta", "delta": "3"})
    await store.finish_run(run.id, RunStatus.COMPLETED)
    chunks = await asyncio.wait_for(follower, 2)
    assert [c["delta"] for c in chunks] == ["1", "2", "3"]


async def test_every_follower_sees_every_chunk(store: ChatStore):
    run = await a_run(store)
    followers = [asyncio.create_task(collect(store.follow_chunks(run.id))) for _ in range(5)]
    await asyncio.sleep(0)
    for index in range(10):
        await store.append_chunk(run.id, {"type": "text-delta", "delta": str(index)})
    await store.finish_run(run.id, RunStatus.CANCELLED)
    for chunks in await asyncio.wait_for(asyncio.gather(*followers), 2):
        assert [c["delta"] for c in chunks] == [str(i) for i in range(10)]


async def test_following_a_finished_run_replays_its_log(store: ChatStore):
    run = await a_run(store)
    await store.append_chunk(run.id, {"type": "start"})
    await store.finish_run(run.id, RunStatus.COMPLETED)
    assert await asyncio.wait_for(collect(store.follow_chunks(run.id)), 2) == [{"type": "start"}]
    assert await asyncio.wait_for(collect(store.follow_chunks(run.id, 5)), 2) == []


# Runs: finishing and cancelling


async def test_wait_finished_gives_the_terminal_status(store: ChatStore):
    run = await a_run(store)
    waiter = asyncio.create_task(store.wait_finished(run.id, 2))
    await asyncio.sleep(0)
    await store.finish_run(run.id, RunStatus.CANCELLED)
    assert await waiter is RunStatus.CANCELLED
    assert (await store.get_run(run.id)).status is RunStatus.CANCELLED


async def test_wait_finished_is_none_when_the_run_outlasts_the_timeout(store: ChatStore):
    run = await a_run(store)
    assert await store.wait_finished(run.id, 0.05) is None


async def test_only_the_first_cancel_request_is_first(store: ChatStore):
    run = await a_run(store)
    assert not await store.wait_cancel_requested(run.id, 0.01)
    assert await store.request_cancel(run.id)
    assert not await store.request_cancel(run.id)
    assert await store.wait_cancel_requested(run.id, 0.01)


async def test_a_waiting_run_learns_of_a_cancel_at_once(store: ChatStore):
    run = await a_run(store)
    waiter = asyncio.create_task(store.wait_cancel_requested(run.id, 5))
    await asyncio.sleep(0)
    await store.request_cancel(run.id)
    assert await asyncio.wait_for(waiter, 1)


async def test_concurrent_cancels_have_exactly_one_first(store: ChatStore):
    run = await a_run(store)
    results = await asyncio.gather(*(store.request_cancel(run.id) for _ in range(RACERS)))
    assert results.count(True) == 1


async def test_clear_forgets_everything(store: ChatStore):
    await store.add_account(Account(id="a", api_keys=("k",)))
    run = await a_run(store)
    await store.clear()
    assert await store.accounts() == []
    assert await store.account_for_key("k") is None
    assert await store.get_chat(run.chat_id) is None
    assert await store.get_run(run.id) is None


# Bounds


def a_new_chat() -> Chat:
    return Chat(id=new_id(), session_id=new_id())


def a_message(text: str = "", role: str = "user") -> dict[str, object]:
    return {"id": new_id(), "role": role, "parts": [{"type": "text", "text": text}]}


async def test_a_bounded_add_evicts_the_chat_idle_the_longest_with_its_messages_never_a_busy_one(
    store: ChatStore,
):
    busy = await a_chat(store)
    assert await store.swap_active_stream(busy.id, None, "run_x")
    oldest, newer = await a_chat(store), await a_chat(store)
    await store.append_message(oldest.id, a_message("kept until evicted"))
    assert await store.chat_count() == 3
    first = await store.add_chat(a_new_chat(), max_chats=3)
    assert await store.get_chat(oldest.id) is None and await store.messages(oldest.id) == []
    assert oldest.id not in {c.id for c in await store.chats(oldest.session_id)}
    assert await store.get_session(oldest.session_id) is None, "a session left without chats goes too"
    assert oldest.session_id not in {s.id for s in await store.sessions("acct")}
    second = await store.add_chat(a_new_chat(), max_chats=3)
    assert await store.get_chat(newer.id) is None
    for chat in (first, second):
        assert await store.swap_active_stream(chat.id, None, f"run_{chat.id}")
    with pytest.raises(TooManyChats):
        await store.add_chat(a_new_chat(), max_chats=3)
    assert await store.chat_count() == 3 and await store.get_chat(busy.id) is not None


async def test_a_chat_added_to_the_session_whose_last_chat_it_evicts_keeps_the_session(store: ChatStore):
    only = await a_chat(store)
    added = await store.add_chat(Chat(id=new_id(), session_id=only.session_id), max_chats=1)
    assert await store.get_chat(only.id) is None
    assert await store.get_session(only.session_id) is not None
    assert [c.id for c in await store.chats(only.session_id)] == [added.id]


async def test_a_chat_answered_since_has_been_idle_for_less_time_than_one_left_alone(store: ChatStore):
    answered, alone = await a_chat(store), await a_chat(store)
    assert await store.swap_active_stream(answered.id, None, "run_a")
    assert await store.swap_active_stream(answered.id, "run_a", None)
    await store.add_chat(a_new_chat(), max_chats=2)
    assert await store.get_chat(alone.id) is None
    assert await store.get_chat(answered.id) is not None


async def test_bytes_used_are_the_chats_records_titles_and_the_messages_they_keep(store: ChatStore):
    chat = await a_chat(store)
    assert await store.bytes_used() == chat_size(chat)
    messages = [a_message("x" * n) for n in (10, 20, 30)]
    for message in messages:
        await store.append_message(chat.id, message, keep_last=2)
    titled = await store.update_chat(chat.id, title="a longer title than before")
    assert titled is not None
    assert await store.bytes_used() == chat_size(titled) + sum(map(message_size, messages[1:]))
    other = await store.add_chat(Chat(id=new_id(), session_id=chat.session_id))
    assert (await store.remove_chat(chat.session_id, other.id))[0] is ChatRemoval.REMOVED
    await store.add_chat(a_new_chat(), max_chats=1)
    assert await store.bytes_used() > 0
    await store.clear()
    assert await store.bytes_used() == 0


async def test_a_full_budget_evicts_the_chats_idle_the_longest_never_the_chat_written_to(store: ChatStore):
    store.max_bytes = 4_000
    written = await a_chat(store)
    idle = [await a_chat(store) for _ in range(3)]
    for chat in idle:
        await store.append_message(chat.id, a_message("y" * 600))
    await store.append_message(written.id, a_message("z" * 1_800))
    assert await store.bytes_used() <= store.max_bytes
    assert await store.get_chat(written.id) is not None
    assert len(await store.messages(written.id)) == 1
    kept = [chat.id for chat in idle if await store.get_chat(chat.id) is not None]
    assert kept and kept == [chat.id for chat in idle][-len(kept) :], "the longest idle go first"


async def test_a_claim_stores_its_message_in_the_same_step_or_neither(store: ChatStore):
    store.max_bytes = 3_000
    longest_idle, chat = await a_chat(store), await a_chat(store)
    before = await store.get_chat(chat.id)
    with pytest.raises(StoreFull):
        await store.swap_active_stream(chat.id, None, "claim_1", adding=a_message("c" * 3_000))
    assert await store.get_chat(chat.id) == before, "its time and its stream as they were"
    assert await store.messages(chat.id) == []
    await store.add_chat(a_new_chat(), max_chats=2)
    assert await store.get_chat(longest_idle.id) is None, "its place in the idle order as it was"
    prompt = a_message("fits")
    assert await store.swap_active_stream(chat.id, None, "claim_2", adding=prompt)
    assert await store.messages(chat.id) == [prompt]
    assert (await store.get_chat(chat.id)).active_stream_id == "claim_2"
    assert not await store.swap_active_stream(chat.id, None, "claim_3", adding=a_message("lost"))
    assert await store.messages(chat.id) == [prompt], "a claim that loses stores nothing"


async def test_what_cannot_fit_the_budget_is_refused_and_evicts_nothing(store: ChatStore):
    store.max_bytes = 3_000
    busy, idle = await a_chat(store), await a_chat(store)
    assert await store.swap_active_stream(busy.id, None, "run_busy")
    await store.append_message(idle.id, a_message("i" * 500))
    before = await store.bytes_used()
    with pytest.raises(StoreFull):
        await store.append_message(busy.id, a_message("b" * 3_000))
    with pytest.raises(StoreFull):
        await store.update_chat(busy.id, title="t" * 3_000)
    with pytest.raises(StoreFull):
        await store.add_chat(replace(a_new_chat(), title="n" * 3_000))
    assert await store.bytes_used() == before
    assert len(await store.messages(idle.id)) == 1 and await store.messages(busy.id) == []


async def test_a_chat_keeps_only_its_last_messages_when_asked(store: ChatStore):
    chat = await a_chat(store)
    for n in range(5):
        await store.append_message(chat.id, {"id": f"m{n}", "role": "user", "parts": []}, keep_last=3)
    assert [m["id"] for m in await store.messages(chat.id)] == ["m2", "m3", "m4"]
    await store.append_message(chat.id, {"id": "m5", "role": "user", "parts": []})
    assert len(await store.messages(chat.id)) == 4, "0 keeps every message"


async def test_a_chat_is_read_with_the_account_that_owns_it(store: ChatStore):
    chat = await a_chat(store, account_id="owner")
    assert await store.chat_and_owner(chat.id) == (chat, "owner")
    assert await store.chat_and_owner(new_id()) == (None, None)
    moved = Session(id=chat.session_id, account_id="new-owner", title="s")
    await store.add_session(moved)
    assert await store.chat_and_owner(chat.id) == (chat, "new-owner")
