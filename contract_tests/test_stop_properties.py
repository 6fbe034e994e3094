"""The rules of `POST /api/chat/{chatId}/stop` that no single-request check can see, as properties.

Each test is one rule of the contract, named as the contract says it. Hypothesis draws the inputs
(ids, keys, how many stops, when to stop). The chats a rule needs are given (`--chat`,
`--other-chat`) or created through the public lifecycle with the suite's two keys; a rule whose
set-up the target cannot provide is NOT CHECKED, with the reason. Every response is also checked
against the contract's document.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Awaitable, Callable

import httpx
from hypothesis import example, given
from hypothesis import strategies as st

from contract_tests.client import ChatRef, json_body, stop_path
from contract_tests.rules import (
    CAN_CREATE_CHATS,
    GENERATION_UNAVAILABLE,
    GIVEN_CHATS,
    IDLE_ANSWER,
    OPTIONS,
    STOPPED_ANSWER,
    SUITE,
    TARGET,
    Inconclusive,
    client,
    expect,
    expect_answer,
    expect_error,
    expect_error_body,
    generating,
    needs_generation,
    run,
    schemes,
    state_of,
)
from contract_tests.strategies import message_texts, non_uuids, unknown_uuids, wrong_keys

SCHEMES = schemes()


async def idle_chat(chats: dict[str, ChatRef]) -> ChatRef:
    """An idle chat of account A: a fresh one when the lifecycle allows, else the given one."""
    if CAN_CREATE_CHATS and not GIVEN_CHATS:
        return await client("a").create_chat("contract: idle")
    return chats["a"]


@SUITE.property_test()
@given(chat_id=non_uuids, scheme=st.sampled_from(SCHEMES))
def test_non_uuid_chat_id_is_400(chat_id: str, scheme: str) -> None:
    async def body() -> None:
        response = await client("a").stop(chat_id, scheme=scheme)
        expect_error(response, 400, f"a chat id that is not a UUID ({chat_id!r})")

    run(body)


@SUITE.property_test()
@given(chat_id=unknown_uuids, who=st.sampled_from(["a", "b"]))
def test_unknown_chat_is_404(chat_id: str, who: str) -> None:
    async def body() -> None:
        expect_error(await client(who).stop(chat_id), 404, "a UUID nobody owns")

    run(body)


FOREIGN_STATES = ["idle"] if GENERATION_UNAVAILABLE else ["idle", "generating", "stopped"]


def _every_state(test: Callable[..., None]) -> Callable[..., None]:
    # Each state is checked on every run, however few examples the profile allows.
    for state in FOREIGN_STATES:
        test = example(state=state, scheme="x-api-key")(test)
    return test


@SUITE.property_test("generation")
@_every_state
@given(state=st.sampled_from(FOREIGN_STATES), scheme=st.sampled_from(SCHEMES))
def test_foreign_chat_is_403(chats: dict[str, ChatRef], state: str, scheme: str) -> None:
    async def foreign_stop(chat: ChatRef, who: str = "b") -> httpx.Response:
        response = await client(who).stop(chat.chat_id, scheme=scheme)
        expect_error(response, 403, f"{'an' if state == 'idle' else 'a'} {state} chat of another account")
        return response

    async def body() -> None:
        owner = client("a")
        if state == "idle":
            chat = await idle_chat(chats)
            before = await state_of(owner, chat)
            refused = await foreign_stop(chat)
            await foreign_stop(chats["b"], who="a")
            after = await state_of(owner, chat)
            expect(after == before, "a foreign stop (403) must not change the chat", refused)
            expect_answer(await owner.stop(chat.chat_id), IDLE_ANSWER, "the owner's stop after a 403")
            return
        chat = await owner.create_chat("contract: foreign")
        async with generating(owner, chat) as generation:
            if state == "generating":
                refused = await foreign_stop(chat)
                if generation.finished_by_itself():
                    raise Inconclusive("the answer ended by itself during the foreign stop")
                expect(
                    not generation.reading.done(),
                    "a foreign stop (403) must not end the owner's answer",
                    refused,
                )
                response = await owner.stop(chat.chat_id)
                if not generation.finished_by_itself():
                    expect_answer(
                        response, STOPPED_ANSWER, "after a 403, the owner's stop of its running answer"
                    )
                return
            await owner.stop(chat.chat_id)
        before = await state_of(owner, chat)
        refused = await foreign_stop(chat)
        expect(
            await state_of(owner, chat) == before, "a foreign stop (403) must not change the chat", refused
        )

    run(body)


CREDENTIALS = ["none", "wrong x-api-key", "empty x-api-key"]
if TARGET.accepts_bearer:
    # "Bearer" with no token is how a client sends an empty one: a trailing space is not legal HTTP.
    CREDENTIALS += ["wrong bearer", "both headers", "empty bearer"]
CHAT_KINDS = ["not a UUID", "unknown", "own chat", "foreign chat"]


def _every_credential(test: Callable[..., None]) -> Callable[..., None]:
    # Each kind of bad credentials is tried on every run, however few examples the profile allows,
    # on the chat a server that let them through would answer 200.
    for credentials in CREDENTIALS:
        test = example(
            credentials=credentials,
            chat_kind="own chat",
            wrong_key="not-a-key-of-this-server",
            malformed="not-a-uuid",
            unknown="0b7a3c1e-9f0d-4c55-8e21-6a0f6d7e5b42",
        )(test)
    return test


@SUITE.property_test()
@_every_credential
@given(
    credentials=st.sampled_from(CREDENTIALS),
    chat_kind=st.sampled_from(CHAT_KINDS),
    wrong_key=wrong_keys,
    malformed=non_uuids,
    unknown=unknown_uuids,
)
def test_missing_or_wrong_credentials_are_401_first(
    chats: dict[str, ChatRef], credentials: str, chat_kind: str, wrong_key: str, malformed: str, unknown: str
) -> None:
    key_a, key_b = OPTIONS.key_a, OPTIONS.key_b
    if wrong_key in (key_a, key_b):
        wrong_key += "-wrong"
    headers = {
        "none": {},
        "wrong x-api-key": {"x-api-key": wrong_key},
        "empty x-api-key": {"x-api-key": ""},
        "wrong bearer": {"Authorization": f"Bearer {wrong_key}"},
        "both headers": {"x-api-key": key_a, "Authorization": f"Bearer {key_a}"},
        "empty bearer": {"Authorization": "Bearer"},
    }[credentials]
    chat_id = {
        "not a UUID": malformed,
        "unknown": unknown,
        "own chat": chats["a"].chat_id,
        "foreign chat": chats["b"].chat_id,
    }[chat_kind]

    async def body() -> None:
        response = await client("anonymous").stop(chat_id, headers=headers)
        what = f"credentials {credentials!r}, chat id {chat_kind!r}: 401 before any other check"
        expect_error(response, 401, what)

    run(body)


@SUITE.property_test()
@given(times=st.integers(1, 5))
def test_idle_stop_is_stopped_false_every_time(chats: dict[str, ChatRef], times: int) -> None:
    async def body() -> None:
        api = client("a")
        chat = await idle_chat(chats)
        for n in range(times):
            last = await api.stop(chat.chat_id)
            expect_answer(last, IDLE_ANSWER, f"stop #{n + 1} of an idle chat")
        state = await state_of(api, chat)
        expect(state is None or not state["isStreaming"], "an idle chat stays idle after stops", last)

    run(body)


@needs_generation
@SUITE.property_test("generation")
@given(more=st.integers(1, 3))
def test_running_stop_is_stopped_true_once_then_false(more: int) -> None:
    async def body() -> None:
        api = client("a")
        chat = await api.create_chat("contract: running")
        async with generating(api, chat) as generation:
            first = await api.stop(chat.chat_id)
            if json_body(first) == IDLE_ANSWER and generation.finished_by_itself():
                raise Inconclusive("the answer ended by itself before the stop reached it")
            expect_answer(first, STOPPED_ANSWER, "the stop of a running generation")
            for n in range(more):
                again = await api.stop(chat.chat_id)
                expect_answer(again, IDLE_ANSWER, f"stop #{n + 2}, after it was stopped")

    run(body)


@needs_generation
@SUITE.property_test("generation")
@given(text=message_texts)
def test_chat_accepts_a_new_message_after_a_stop(text: str) -> None:
    async def body() -> None:
        api = client("a")
        chat = await api.create_chat("contract: again")
        async with generating(api, chat) as generation:
            first = await api.stop(chat.chat_id)
            if json_body(first) == IDLE_ANSWER and generation.finished_by_itself():
                raise Inconclusive("the answer ended by itself before the stop reached it")
            expect_answer(first, STOPPED_ANSWER, "the stop of a running generation")
        async with api.streaming("POST", "/api/chat", json=api.send_body(chat, text)) as (log, chunks):
            async for _ in chunks:
                break
            accepted = f"a new message after a stop is accepted, got {log.status_code}"
            expect(log.status_code == 200, accepted, log)
            expect(bool(log.chunks), "the new message is answered", log)
        await api.stop(chat.chat_id)

    run(body)


@needs_generation
@SUITE.property_test("generation")
@given(n=st.integers(2, 16))
def test_concurrent_stops_exactly_one_is_true(n: int) -> None:
    async def body() -> None:
        api = client("a")
        chat = await api.create_chat("contract: race")
        # Open n connections first (idle stops of another chat), so the n racing stops leave at
        # once instead of one connection set-up apart.
        idle = await api.create_chat("contract: race, warm-up")
        await asyncio.gather(*(api.stop(idle.chat_id) for _ in range(n)))
        async with generating(api, chat) as generation:
            responses = await asyncio.gather(*(api.stop(chat.chat_id) for _ in range(n)))
        for response in responses:
            expect(response.status_code == 200, "each of concurrent stops is answered 200", response)
        trues = sum(json_body(r).get("stopped") is True for r in responses)
        if trues == 0 and generation.finished_by_itself():
            raise Inconclusive("the answer ended by itself before the stops reached it")
        expect(
            trues == 1,
            f"{n} concurrent stops of one generation: exactly one stopped:true, got {trues}",
            responses[0],
        )

    run(body)


ERROR_CASES = [
    "non-UUID chat id",
    "unknown chat",
    "foreign chat",
    "no credentials",
    "unknown key",
    "GET on the stop path",
]
if TARGET.has_operation("post", "/api/chat"):
    ERROR_CASES.append("message without a body")
if TARGET.has_operation("get", "/api/chat/{chatId}/stream"):
    ERROR_CASES.append("resume a non-UUID chat")
if TARGET.has_operation("get", "/api/sessions/{sessionId}/chats"):
    ERROR_CASES.append("unknown session")


@SUITE.property_test()
@given(case=st.sampled_from(ERROR_CASES), malformed=non_uuids, unknown=unknown_uuids, key=wrong_keys)
def test_error_bodies_are_json_error_objects(
    chats: dict[str, ChatRef], case: str, malformed: str, unknown: str, key: str
) -> None:
    async def body() -> None:
        api, anonymous = client("a"), client("anonymous")
        quoted = urllib.parse.quote(malformed, safe="")
        cases: dict[str, Callable[[], Awaitable[httpx.Response]]] = {
            "non-UUID chat id": lambda: api.stop(malformed),
            "unknown chat": lambda: api.stop(unknown),
            "foreign chat": lambda: api.stop(chats["b"].chat_id),
            "no credentials": lambda: anonymous.stop(chats["a"].chat_id),
            "unknown key": lambda: anonymous.stop(chats["a"].chat_id, headers={"x-api-key": key + "-x"}),
            # Undocumented, so not validated against the spec: only its error body is judged.
            "GET on the stop path": lambda: api.request("GET", stop_path(chats["a"].chat_id), validate=False),
            "message without a body": lambda: api.request("POST", "/api/chat", json_body={}),
            "resume a non-UUID chat": lambda: api.request("GET", f"/api/chat/{quoted}/stream"),
            "unknown session": lambda: api.request("GET", f"/api/sessions/{unknown}/chats"),
        }
        result = await cases[case]()
        expect(result.status_code >= 400, f"{case}: an error status", result)
        expect_error_body(result)

    run(body)
