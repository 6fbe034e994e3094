"""What every store must do when several processes share it: each test holds two handles on one
state (`store_pair`), as two server processes do, and acts through one, watching through the other.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from mock_server.domain.answers import text_only
from mock_server.domain.errors import StoreFull, TooManyChats
from mock_server.domain.models import Account, Chat, Run, RunStatus, Session, new_id
from mock_server.domain.store import ChatStore, RunForgotten, RunTaken
from mock_server.domain.store.space import chat_size, message_size

Pair = tuple[ChatStore, ChatStore]
RACERS = 40
LEASE = 60.0
SEED = {"accounts": [{"id": "a", "api_keys": ["k"]}]}
AT_ONCE = 0.5
"""A wake-up that comes this soon came from the event, not from a timeout."""


async def a_chat(store: ChatStore) -> Chat:
    session = Session(id=new_id(), account_id="acct", title="s")
    await store.add_session(session)
    return await store.add_chat(Chat(id=new_id(), session_id=session.id))


async def a_run(store: ChatStore, lease: float = LEASE) -> Run:
    chat = await a_chat(store)
    run = Run(id=f"run_{new_id()}", chat_id=chat.id, message_id=new_id(), answer=text_only("hi"))
    await store.add_run(run, lease)
    await store.swap_active_stream(chat.id, None, run.id)
    return run


async def test_a_cancel_through_one_process_wakes_the_run_waiting_in_another_at_once(store_pair: Pair):
    here, there = store_pair
    run = await a_run(here)
    waiting = asyncio.create_task(there.wait_cancel_requested(run.id, 10))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    assert await here.request_cancel(run.id)
    assert await waiting
    assert time.monotonic() - started < AT_ONCE


async def test_a_finish_in_one_process_wakes_a_stop_waiting_in_another_at_once(store_pair: Pair):
    here, there = store_pair
    run = await a_run(here)
    waiting = asyncio.create_task(there.wait_finished(run.id, 10))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await here.finish_run(run.id, RunStatus.CANCELLED)
    assert await waiting is RunStatus.CANCELLED
    assert time.monotonic() - started < AT_ONCE


async def test_a_follower_in_another_process_sees_every_chunk_then_the_end(store_pair: Pair):
    here, there = store_pair
    run = await a_run(here)
    chunks = [{"type": "text-delta", "id": "t", "delta": str(i)} for i in range(5)]
    following = asyncio.create_task(_collect(there, run.id, 0))
    for chunk in chunks:
        await here.append_chunk(run.id, chunk)
        await asyncio.sleep(0.01)
    await here.finish_run(run.id, RunStatus.COMPLETED)
    assert await asyncio.wait_for(following, 5) == chunks


async def test_a_resume_in_another_process_starts_at_its_index(store_pair: Pair):
    here, there = store_pair
    run = await a_run(here)
    for i in range(6):
        await here.append_chunk(run.id, {"type": "text-delta", "id": "t", "delta": str(i)})
    await here.finish_run(run.id, RunStatus.CANCELLED)
    rest = await asyncio.wait_for(_collect(there, run.id, 4), 5)
    assert [chunk["delta"] for chunk in rest] == ["4", "5"]
    assert await asyncio.wait_for(_collect(there, run.id, 9), 5) == []


async def test_concurrent_releases_from_two_processes_have_exactly_one_winner(store_pair: Pair):
    here, there = store_pair
    run = await a_run(here)
    racers = [(here, there)[i % 2].swap_active_stream(run.chat_id, run.id, None) for i in range(RACERS)]
    assert sum(await asyncio.gather(*racers)) == 1


async def test_concurrent_cancels_from_two_processes_have_exactly_one_first(store_pair: Pair):
    here, there = store_pair
    run = await a_run(here)
    racers = [(here, there)[i % 2].request_cancel(run.id) for i in range(RACERS)]
    assert sum(await asyncio.gather(*racers)) == 1


async def test_a_finished_runs_log_no_longer_grows_and_keeps_its_first_status(store: ChatStore):
    run = await a_run(store)
    await store.append_chunk(run.id, {"type": "start"})
    await store.finish_run(run.id, RunStatus.CANCELLED)
    assert await store.append_chunk(run.id, {"type": "finish"}) == 1
    await store.finish_run(run.id, RunStatus.FAILED)
    assert await store.chunks(run.id) == [{"type": "start"}]
    assert (await store.get_run(run.id)).status is RunStatus.CANCELLED


async def test_writing_to_what_a_reset_forgot_stores_nothing(store_pair: Pair):
    here, there = store_pair
    run = await a_run(here)
    waiting = asyncio.create_task(there.wait_cancel_requested(run.id, 10))
    await asyncio.sleep(0.05)
    await here.clear()
    assert await asyncio.wait_for(waiting, AT_ONCE * 4)
    with pytest.raises(RunForgotten):
        await there.append_chunk(run.id, {"type": "start"})
    await there.append_message(run.chat_id, {"id": "m", "role": "assistant", "parts": []})
    assert not await there.swap_active_stream(run.chat_id, run.id, None)
    await there.finish_run(run.id, RunStatus.CANCELLED)
    assert await here.get_chat(run.chat_id) is None
    assert await here.messages(run.chat_id) == []
    assert await here.get_run(run.id) is None
    assert await here.run_count() == 0
    assert await there.wait_finished(run.id, 1) is RunStatus.CANCELLED
    assert not await there.request_cancel(run.id)


# Leases


async def test_running_runs_are_listed_until_they_finish(store_pair: Pair):
    here, there = store_pair
    first, second = await a_run(here), await a_run(there)
    assert sorted(await here.running_runs()) == sorted([first.id, second.id])
    await here.finish_run(first.id, RunStatus.COMPLETED)
    assert await there.running_runs() == [second.id]


async def test_a_renewed_lease_does_not_lapse(store: ChatStore):
    run = await a_run(store, lease=0.3)
    for _ in range(4):
        await asyncio.sleep(0.1)
        assert await store.renew_leases([run.id], 0.3) == []
    assert await store.lapsed_runs() == {}


async def test_a_lapsed_lease_is_taken_over_by_exactly_one_claimant(store_pair: Pair):
    here, there = store_pair
    run = await a_run(here, lease=0.05)
    await asyncio.sleep(0.15)
    lapsed = await there.lapsed_runs()
    assert list(lapsed) == [run.id]
    racers = [(here, there)[i % 2].take_over(run.id, LEASE, lapsed[run.id]) for i in range(RACERS)]
    assert sum(await asyncio.gather(*racers)) == 1
    assert await here.lapsed_runs() == {}


async def test_a_lease_that_is_not_lapsed_cannot_be_taken(store: ChatStore):
    run = await a_run(store)
    assert not await store.take_over(run.id, LEASE, 0.0)


async def test_a_lapsed_lease_renewed_since_it_was_seen_cannot_be_taken(store_pair: Pair):
    here, there = store_pair
    run = await a_run(here, lease=0.05)
    await asyncio.sleep(0.15)
    seen = await there.lapsed_runs()
    assert await here.renew_leases([run.id], 0.05) == []  # the owner, back after a stall
    await asyncio.sleep(0.15)  # lapsed again, with another expiry
    assert list(await there.lapsed_runs()) == [run.id]
    assert not await there.take_over(run.id, LEASE, seen[run.id])


async def test_renewing_a_finished_or_unknown_run_reports_it_lost(store: ChatStore):
    run, other = await a_run(store), await a_run(store)
    await store.finish_run(run.id, RunStatus.COMPLETED)
    assert await store.renew_leases([run.id, other.id, "run_unknown"], LEASE) == [run.id, "run_unknown"]


# Seeding and shared settings


async def test_a_seed_is_loaded_by_one_process_and_found_by_the_others(store_pair: Pair):
    here, there = store_pair
    assert await here.begin_seeding("abc") is None
    finding = asyncio.create_task(there.begin_seeding("abc"))
    await asyncio.sleep(0.1)
    await here.end_seeding("abc", SEED)
    assert await asyncio.wait_for(finding, 5) == "abc"
    assert await here.begin_seeding("other") == "abc"


async def test_a_reset_forgets_the_seed_and_the_default_answer(store_pair: Pair):
    here, there = store_pair
    await here.begin_seeding("abc")
    await here.end_seeding("abc", SEED)
    await here.set_default_answer(text_only("scripted"))
    assert await there.default_answer() == text_only("scripted")
    await there.clear()
    assert await here.default_answer() is None
    assert await here.begin_seeding("abc") is None


async def test_a_key_follows_its_account_when_another_process_loads_a_new_seed(store_pair: Pair):
    here, there = store_pair
    await there.add_account(Account(id="before", api_keys=("k",)))
    assert (await here.account_for_key("k")).id == "before"  # type: ignore[union-attr]
    assert (await here.account_for_key("k")).id == "before"  # type: ignore[union-attr]
    await there.clear()  # a reset, then the new seed's accounts
    await there.add_account(Account(id="after", api_keys=("k",)))
    deadline = time.monotonic() + AT_ONCE
    while (await here.account_for_key("k")).id != "after":  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the reset's event did not reach the other process"
        await asyncio.sleep(0.01)


async def test_a_key_unknown_a_moment_ago_is_found_once_another_process_adds_it(store_pair: Pair):
    here, there = store_pair
    assert await here.account_for_key("new-key") is None
    await there.add_account(Account(id="new", api_keys=("new-key",)))
    assert (await here.account_for_key("new-key")).id == "new"  # type: ignore[union-attr]


async def test_concurrent_bounded_adds_in_two_processes_never_pass_the_bound(store_pair: Pair):
    here, there = store_pair
    bound = 10
    session = Session(id=new_id(), account_id="acct", title="s")
    await here.add_session(session)

    async def add(store: ChatStore) -> bool:
        try:
            await store.add_chat(Chat(id=new_id(), session_id=session.id), bound)
        except TooManyChats:
            return False
        return True

    added = await asyncio.gather(*(add(here if n % 2 else there) for n in range(3 * bound)))
    assert all(added), "every add evicts an idle chat when the bound is reached"
    assert await here.chat_count() == bound
    assert await there.chat_count() == bound


async def test_concurrent_large_messages_in_two_processes_never_pass_the_byte_budget(store_pair: Pair):
    here, there = store_pair
    here.max_bytes = there.max_bytes = 20_000
    session = Session(id=new_id(), account_id="acct", title="s")
    await here.add_session(session)
    chats = [await here.add_chat(Chat(id=new_id(), session_id=session.id)) for _ in range(3 * 10)]
    busy = chats[::3]  # being answered: never evicted, so some writes must be refused
    for chat in busy:
        await here.swap_active_stream(chat.id, None, f"run_{chat.id}")
    message = {"id": "m", "role": "user", "parts": [{"type": "text", "text": "x" * 2_000}]}

    async def append(store: ChatStore, chat: Chat) -> str:
        try:
            await store.append_message(chat.id, message)
        except StoreFull:
            return "refused"
        return "kept"

    outcomes = await asyncio.gather(*(append((here, there)[n % 2], c) for n, c in enumerate(chats * 2)))
    assert "refused" in outcomes and "kept" in outcomes
    assert await there.bytes_used() <= 20_000
    stored = [c for c in chats if await there.get_chat(c.id) is not None]
    assert {c.id for c in busy} <= {c.id for c in stored}, "a busy chat is never evicted"
    counted = sum([chat_size(c) + sum(map(message_size, await there.messages(c.id))) for c in stored])
    assert await here.bytes_used() == counted, "the count is what is stored, after every race"


async def test_a_reset_among_concurrent_writes_leaves_the_counts_what_is_stored(store_pair: Pair):
    here, there = store_pair
    here.max_bytes = there.max_bytes = 10_000_000
    message = {"id": "m", "role": "user", "parts": [{"type": "text", "text": "w" * 500}]}
    written, some_written = 0, asyncio.Event()

    async def writer(n: int) -> None:
        nonlocal written
        for turn in range(30):
            session = Session(id=new_id(), account_id="acct", title=f"s{n}-{turn}")
            chat = await there.add_chat(Chat(id=new_id(), session_id=session.id), 0, session)
            await there.append_message(chat.id, message)
            await there.update_chat(chat.id, title=f"renamed {n}-{turn}")
            written += 1
            if written == 100:
                some_written.set()
            await asyncio.sleep(0)  # the memory store never yields: let the others, and the reset, in

    async def reset_midway() -> None:
        await some_written.wait()
        await here.clear()

    await asyncio.gather(*(writer(n) for n in range(8)), reset_midway())
    stored = [c for s in await there.sessions("acct") for c in await there.chats(s.id)]
    assert 0 < len(stored) < 8 * 30, "the reset came among the writes"
    counted = sum([chat_size(c) + sum(map(message_size, await there.messages(c.id))) for c in stored])
    assert await here.bytes_used() == counted
    assert await here.chat_count() == len(stored)
    for _ in stored:  # each bounded add evicts one chat left, so every one is in the idle order
        await here.add_chat(Chat(id=new_id(), session_id=new_id()), max_chats=1)
    assert not [c for c in stored if await there.get_chat(c.id) is not None]


async def test_a_bounded_add_with_every_chat_busy_is_refused_and_stores_nothing(store_pair: Pair):
    here, there = store_pair
    session = Session(id=new_id(), account_id="acct", title="s")
    await here.add_session(session)
    for _ in range(3):
        chat = await here.add_chat(Chat(id=new_id(), session_id=session.id), 3)
        await here.swap_active_stream(chat.id, None, f"run_{new_id()}")
    refused = await asyncio.gather(
        *(there.add_chat(Chat(id=new_id(), session_id=session.id), 3) for _ in range(6)),
        return_exceptions=True,
    )
    assert all(isinstance(outcome, TooManyChats) for outcome in refused)
    assert await there.chat_count() == 3
    newcomer = Session(id=new_id(), account_id="acct", title="refused")
    with pytest.raises(TooManyChats):
        await there.add_chat(Chat(id=new_id(), session_id=newcomer.id), 3, newcomer)
    assert await here.get_session(newcomer.id) is None, "a refused chat leaves no session behind"


async def test_a_chat_added_with_its_session_stores_both_in_one_step(store_pair: Pair):
    here, there = store_pair
    session = Session(id=new_id(), account_id="acct", title="together")
    chat = await here.add_chat(Chat(id=new_id(), session_id=session.id), 5, session)
    assert await there.get_session(session.id) == session
    assert [c.id for c in await there.chats(session.id)] == [chat.id]
    assert session.id in [s.id for s in await there.sessions("acct")]


async def _collect(store: ChatStore, run_id: str, start: int) -> list[dict[str, object]]:
    return [chunk async for chunk in store.follow_chunks(run_id, start)]


async def test_a_seeding_that_failed_lets_another_process_load_the_seed_at_once(store_pair: Pair):
    here, there = store_pair
    assert await here.begin_seeding("abc") is None
    finding = asyncio.create_task(there.begin_seeding("abc"))
    await asyncio.sleep(0.1)
    await here.abandon_seeding()
    assert await asyncio.wait_for(finding, 5) is None


async def test_a_reset_is_not_taken_for_a_store_that_lost_everything(store_pair: Pair):
    here, there = store_pair
    await here.begin_seeding("abc")
    await here.end_seeding("abc", SEED)
    assert not await there.lost_everything()
    await here.clear()
    assert not await there.lost_everything()


async def test_a_start_index_past_any_chunk_reads_nothing(store: ChatStore):
    run = await a_run(store)
    await store.append_chunk(run.id, {"type": "start"})
    await store.finish_run(run.id, RunStatus.COMPLETED)
    assert await asyncio.wait_for(_collect(store, run.id, 2**70), 5) == []


async def test_the_seed_last_loaded_is_in_force_for_every_process(store_pair: Pair):
    here, there = store_pair
    assert await there.seed_in_force() is None
    await here.begin_seeding("abc")
    await here.end_seeding("abc", SEED)
    assert await there.seed_in_force() == SEED


async def test_loads_in_two_processes_at_once_run_one_at_a_time(store_pair: Pair):
    here, there = store_pair
    assert await here.begin_seeding("first", replace=True) is None
    second = asyncio.create_task(there.begin_seeding("second", replace=True))
    await asyncio.sleep(0.1)
    assert not second.done()
    await here.clear()  # the first load's reset keeps its grant
    await asyncio.sleep(0.1)
    assert not second.done()
    await here.end_seeding("first", SEED)
    assert await asyncio.wait_for(second, 5) is None


async def test_a_finished_run_is_forgotten_with_its_chunks_after_it_was_kept(store_pair: Pair):
    here, there = store_pair
    run = await a_run(here)
    await here.append_chunk(run.id, {"type": "start"})
    # Kept long enough to be read on a loaded machine; then forgotten within a bounded wait.
    await here.finish_run(run.id, RunStatus.COMPLETED, keep_for=1.0)
    assert (await there.get_run(run.id)).status is RunStatus.COMPLETED
    for _ in range(100):
        if await there.get_run(run.id) is None:
            break
        await asyncio.sleep(0.05)
    assert await there.get_run(run.id) is None
    assert await there.chunks(run.id) == []
    assert await there.run_count() == 0


async def test_a_cancel_of_a_finished_run_is_not_first(store_pair: Pair):
    here, there = store_pair
    run = await a_run(here)
    await here.finish_run(run.id, RunStatus.COMPLETED)
    assert not await there.request_cancel(run.id)


async def test_a_run_taken_over_is_no_longer_its_former_owners_to_write(store_pair: Pair):
    here, there = store_pair
    if here is there:
        pytest.skip("one process: nobody else can take its runs over")
    run = await a_run(here, lease=0.05)
    await asyncio.sleep(0.15)
    assert await there.take_over(run.id, LEASE, (await there.lapsed_runs())[run.id])
    with pytest.raises(RunTaken):
        await here.append_chunk(run.id, {"type": "start"})
    assert await here.renew_leases([run.id], LEASE) == [run.id]
    await here.finish_run(run.id, RunStatus.COMPLETED)
    assert (await there.get_run(run.id)).status is RunStatus.RUNNING
    assert await there.append_chunk(run.id, {"type": "error", "errorText": "gone"}) == 1
    await there.finish_run(run.id, RunStatus.FAILED)
    assert (await here.get_run(run.id)).status is RunStatus.FAILED
