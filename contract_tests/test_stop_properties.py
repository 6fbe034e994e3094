"""The rules of `POST /api/chat/{chatId}/stop` that no single-request check can see, as properties.

Each test is one rule of the contract, named as the contract says it. Hypothesis draws the inputs
(ids, keys, how many stops, when to stop); every chat a rule needs is created through the public
lifecycle with the suite's two keys, so the rules hold or fail the same way for any implementation.
Every response is also checked against the spec (`RecoupClient` validates each one).
"""

from __future__ import annotations

import asyncio
import string
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from contract_tests.client import ChatRef, RecoupClient, StreamLog, curl_for
from contract_tests.suite import current

SUITE = current()
needs_generation = pytest.mark.skipif(
    not SUITE.options.generation, reason="--no-generation: this rule needs a running generation"
)

STOP_ANSWERED_SLACK = 0.1
"""Seconds a chunk already on the wire when the stop answered may still take to arrive."""
STREAM_END_GRACE = 1.0
"""Seconds within which the stream of a stopped generation must end after the stop answered."""
STREAMING_TIMEOUT = 10.0

IDLE_ANSWER = {"success": True, "stopped": False}
STOPPED_ANSWER = {"success": True, "stopped": True}


def run(body: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
    SUITE.target.counts["property examples"] += 1
    SUITE.target.run(body, *args)


def client(who: str = "a") -> RecoupClient:
    return SUITE.target.client(who)


def expect(condition: bool, message: str, response: httpx.Response | None = None) -> None:
    """Fail the rule with `message`, the response and the request that broke it."""
    if condition:
        return
    if response is not None:
        message += (
            f"\n{response.request.method} {response.request.url.path} -> {response.status_code} "
            f"{response.headers.get('content-type', '')}: {response.text[:300]}"
            f"\nReproduce with:\n{curl_for(response.request)}"
        )
    raise AssertionError(message)


def expect_error(response: httpx.Response, status: int, what: str) -> None:
    expect(response.status_code == status, f"{what}: expected {status}", response)
    expect_error_body(response)


def expect_error_body(response: httpx.Response) -> None:
    """`{"status": "error", "error": "..."}` as application/json (a 401 may say `message` instead)."""
    content_type = response.headers.get("content-type", "").split(";")[0].strip()
    expect(content_type == "application/json", "an error must be application/json", response)
    try:
        body = response.json()
    except ValueError:
        body = None
    expect(
        isinstance(body, dict) and body.get("status") == "error",
        'an error body has "status": "error"',
        response,
    )
    assert isinstance(body, dict)
    # The running service answers an unknown key with `message`; the spec documents both for 401.
    fields = ("error", "message") if response.status_code == 401 else ("error",)
    expect(
        any(isinstance(body.get(f), str) and body[f] for f in fields),
        f"an error body carries its text in {' or '.join(repr(f) for f in fields)}",
        response,
    )


# Inputs

# One path segment: "/" separates segments, and "." / ".." are resolved away by every client.
path_segments = st.text(st.characters(codec="utf-8", exclude_characters="/"), min_size=1, max_size=40).filter(
    lambda s: s not in (".", "..")
)
almost_uuids = st.uuids().flatmap(
    lambda u: st.sampled_from(
        [
            u.hex,  # no hyphens
            f"{{{u}}}",  # braces
            f"urn:uuid:{u}",
            str(u)[:-1],  # one digit short
            f"{u}0",  # one digit long
            f" {u}",
            str(u).replace("-", "_"),
            str(u)[:-1] + "g",  # not hexadecimal
        ]
    )
)
non_uuids = st.one_of(almost_uuids, path_segments.filter(lambda s: not _is_uuid(s)))
unknown_uuids = st.uuids().map(str)
wrong_keys = st.text(string.ascii_letters + string.digits + "-_.", min_size=1, max_size=48)


def _is_uuid(text: str) -> bool:
    import uuid

    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False


def stop_path(chat_id: str) -> str:
    return f"/api/chat/{urllib.parse.quote(chat_id, safe='')}/stop"


async def stop(api: RecoupClient, chat_id: str, **kwargs: Any) -> httpx.Response:
    return await api.request("POST", stop_path(chat_id), **kwargs)


# Generations


@asynccontextmanager
async def generating(
    api: RecoupClient, chat: ChatRef, text: str = "Tell me a long story"
) -> AsyncIterator[Any]:
    """A generation running for `chat` while the block runs; its stream is read in the background."""
    reading = asyncio.create_task(api.read_stream("POST", "/api/chat", json=api.send_body(chat, text)))
    try:
        await _wait_streaming(api, chat, reading)
        yield reading
    finally:
        if not reading.done():
            await stop(api, chat.chat_id)
        try:
            await asyncio.wait_for(reading, STREAMING_TIMEOUT)
        except TimeoutError:
            reading.cancel()


async def _wait_streaming(api: RecoupClient, chat: ChatRef, reading: asyncio.Task[StreamLog]) -> None:
    deadline = time.monotonic() + STREAMING_TIMEOUT
    while not (await api.chat_state(chat))["isStreaming"]:
        if reading.done():
            log = reading.result()
            raise AssertionError(f"sending a message did not start a generation (status {log.status_code})")
        expect(time.monotonic() < deadline, "a sent message never made the chat report isStreaming")
        await asyncio.sleep(0.01)


@pytest.fixture(scope="session")
def chats() -> dict[str, ChatRef]:
    """One chat of each account, for rules that only need a chat to exist."""

    async def create() -> dict[str, ChatRef]:
        return {
            "a": await client("a").create_chat("contract: A"),
            "b": await client("b").create_chat("contract: B"),
        }

    return SUITE.target.run(create)


# The rules


@SUITE.property_test()
@given(chat_id=non_uuids, scheme=st.sampled_from(["x-api-key", "bearer"]))
def test_non_uuid_chat_id_is_400(chat_id: str, scheme: str) -> None:
    async def body() -> None:
        api = client("a")
        headers = {} if scheme == "x-api-key" else {"Authorization": f"Bearer {api.api_key}"}
        response = await stop(api, chat_id, headers=headers, authenticate=scheme == "x-api-key")
        expect_error(response, 400, f"a chat id that is not a UUID ({chat_id!r})")

    run(body)


@SUITE.property_test()
@given(chat_id=unknown_uuids, who=st.sampled_from(["a", "b"]))
def test_unknown_chat_is_404(chat_id: str, who: str) -> None:
    async def body() -> None:
        expect_error(await stop(client(who), chat_id), 404, "a UUID nobody owns")

    run(body)


FOREIGN_STATES = ["idle", "generating", "stopped"] if SUITE.options.generation else ["idle"]


def _every_state(test: Callable[..., None]) -> Callable[..., None]:
    # Each state is checked on every run, however few examples the profile allows.
    for state in FOREIGN_STATES:
        test = example(state=state, scheme="x-api-key")(test)
    return test


@SUITE.property_test("generation")
@_every_state
@given(state=st.sampled_from(FOREIGN_STATES), scheme=st.sampled_from(["x-api-key", "bearer"]))
def test_foreign_chat_is_403(state: str, scheme: str) -> None:
    async def foreign_stop(chat: ChatRef) -> httpx.Response:
        other = client("b")
        headers = {} if scheme == "x-api-key" else {"Authorization": f"Bearer {other.api_key}"}
        response = await stop(other, chat.chat_id, headers=headers, authenticate=scheme == "x-api-key")
        expect_error(response, 403, f"a {state} chat of account A stopped with B's key")
        return response

    async def body() -> None:
        owner = client("a")
        chat = await owner.create_chat("contract: foreign")
        if state == "generating":
            async with generating(owner, chat):
                refused = await foreign_stop(chat)
                still = await owner.chat_state(chat)
                expect(
                    still["isStreaming"], "a foreign stop (403) must not stop the owner's generation", refused
                )
                response = await stop(owner, chat.chat_id)
                expect(response.json() == STOPPED_ANSWER, "after a 403, the owner still stops it", response)
            return
        if state == "stopped":
            async with generating(owner, chat):
                await stop(owner, chat.chat_id)
        before = await owner.chat_state(chat)
        refused = await foreign_stop(chat)
        after = await owner.chat_state(chat)
        expect(after["chat"] == before["chat"], "a foreign stop (403) must not change the chat", refused)

    run(body)


CREDENTIALS = ["none", "wrong x-api-key", "wrong bearer", "both headers", "empty bearer"]
CHAT_IDS = ["not a UUID", "unknown", "own chat", "foreign chat"]


@SUITE.property_test()
@given(
    credentials=st.sampled_from(CREDENTIALS),
    chat_kind=st.sampled_from(CHAT_IDS),
    wrong_key=wrong_keys,
    malformed=non_uuids,
    unknown=unknown_uuids,
)
def test_missing_or_wrong_credentials_are_401_first(
    chats: dict[str, ChatRef], credentials: str, chat_kind: str, wrong_key: str, malformed: str, unknown: str
) -> None:
    key_a, key_b = SUITE.options.key_a, SUITE.options.key_b
    if wrong_key in (key_a, key_b):
        wrong_key += "-wrong"
    headers = {
        "none": {},
        "wrong x-api-key": {"x-api-key": wrong_key},
        "wrong bearer": {"Authorization": f"Bearer {wrong_key}"},
        "both headers": {"x-api-key": key_a, "Authorization": f"Bearer {key_a}"},
        "empty bearer": {"Authorization": "Bearer "},
    }[credentials]
    chat_id = {
        "not a UUID": malformed,
        "unknown": unknown,
        "own chat": chats["a"].chat_id,
        "foreign chat": chats["b"].chat_id,
    }[chat_kind]

    async def body() -> None:
        response = await stop(client("anonymous"), chat_id, headers=headers)
        expect_error(
            response, 401, f"credentials {credentials!r}, chat id {chat_kind!r}: 401 before any other check"
        )

    run(body)


@SUITE.property_test()
@given(times=st.integers(1, 5))
def test_idle_stop_is_stopped_false_every_time(times: int) -> None:
    async def body() -> None:
        api = client("a")
        chat = await api.create_chat("contract: idle")
        for n in range(times):
            response = await stop(api, chat.chat_id)
            expect(response.status_code == 200, f"stop #{n + 1} of an idle chat", response)
            expect(
                response.json() == IDLE_ANSWER, f"stop #{n + 1} of an idle chat says stopped:false", response
            )
        state = await api.chat_state(chat)
        expect(not state["isStreaming"], "an idle chat stays idle after stops")

    run(body)


@needs_generation
@SUITE.property_test("generation")
@given(more=st.integers(1, 3))
def test_running_stop_is_stopped_true_once_then_false(more: int) -> None:
    async def body() -> None:
        api = client("a")
        chat = await api.create_chat("contract: running")
        async with generating(api, chat):
            first = await stop(api, chat.chat_id)
            expect(
                first.json() == STOPPED_ANSWER, "the stop of a running generation says stopped:true", first
            )
            for n in range(more):
                again = await stop(api, chat.chat_id)
                expect(
                    again.json() == IDLE_ANSWER,
                    f"stop #{n + 2} after it was stopped says stopped:false",
                    again,
                )

    run(body)


@needs_generation
@SUITE.property_test("generation")
@given(text=st.text(string.ascii_letters + string.digits + " .,?!", min_size=1, max_size=60))
def test_chat_accepts_a_new_message_after_a_stop(text: str) -> None:
    async def body() -> None:
        api = client("a")
        chat = await api.create_chat("contract: again")
        async with generating(api, chat):
            first = await stop(api, chat.chat_id)
            expect(
                first.json() == STOPPED_ANSWER, "the stop of a running generation says stopped:true", first
            )
        async with api.streaming("POST", "/api/chat", json=api.send_body(chat, text)) as (log, chunks):
            async for _ in chunks:
                break
            expect(log.status_code == 200, f"a new message after a stop is accepted, got {log.status_code}")
            expect(bool(log.chunks), "the new message is answered")
        await stop(api, chat.chat_id)

    run(body)


@needs_generation
@SUITE.property_test("generation")
@given(n=st.integers(2, 8))
def test_concurrent_stops_exactly_one_is_true(n: int) -> None:
    async def body() -> None:
        api = client("a")
        chat = await api.create_chat("contract: race")
        async with generating(api, chat):
            responses = await asyncio.gather(*(stop(api, chat.chat_id) for _ in range(n)))
        for response in responses:
            expect(response.status_code == 200, "each of concurrent stops is answered 200", response)
        trues = sum(r.json().get("stopped") is True for r in responses)
        expect(
            trues == 1,
            f"{n} concurrent stops of one generation: exactly one stopped:true, got {trues}",
            responses[0],
        )

    run(body)


TERMINAL_CHUNKS = {"abort", "finish", "finish-step", "text-end", "tool-output-error", "error"}


@needs_generation
@SUITE.property_test("generation")
@given(after=st.integers(1, 5))
def test_stopped_stream_ends(after: int) -> None:
    async def body() -> None:
        api = client("a")
        chat = await api.create_chat("contract: stream")
        deltas = asyncio.Event()
        seen = 0
        arrivals: list[tuple[float, str]] = []

        async def read() -> StreamLog:
            nonlocal seen
            async with api.streaming("POST", "/api/chat", json=api.send_body(chat, "A long answer")) as (
                log,
                chunks,
            ):
                async for chunk in chunks:
                    arrivals.append((time.monotonic(), chunk.get("type", "?")))
                    if chunk.get("type") == "text-delta":
                        seen += 1
                        if seen >= after:
                            deltas.set()
            deltas.set()
            return log

        reading = asyncio.create_task(read())
        await asyncio.wait_for(deltas.wait(), STREAMING_TIMEOUT)
        expect(not reading.done(), f"the answer ended before {after} text-delta chunk(s); nothing to stop")
        response = await stop(api, chat.chat_id)
        answered = time.monotonic()
        expect(
            response.json() == STOPPED_ANSWER, "the stop of a streaming answer says stopped:true", response
        )
        try:
            log = await asyncio.wait_for(reading, STREAM_END_GRACE + STOP_ANSWERED_SLACK)
        except TimeoutError:
            reading.cancel()
            expect(
                False, f"the stream went on more than {STREAM_END_GRACE}s after the stop answered", response
            )
            return
        late = [
            kind
            for at, kind in arrivals
            if at > answered + STOP_ANSWERED_SLACK and kind not in TERMINAL_CHUNKS
        ]
        expect(not late, f"chunks arrived after the stop answered: {late[:5]}", response)
        expect(log.status_code == 200, "the answer was streamed")

    run(body)


ERROR_CASES = [
    "non-UUID chat id",
    "unknown chat",
    "foreign chat",
    "no credentials",
    "unknown key",
    "GET on the stop path",
    "message without a body",
    "resume a non-UUID chat",
    "unknown session",
]


@SUITE.property_test()
@given(case=st.sampled_from(ERROR_CASES), malformed=non_uuids, unknown=unknown_uuids, key=wrong_keys)
def test_error_bodies_are_json_error_objects(
    chats: dict[str, ChatRef], case: str, malformed: str, unknown: str, key: str
) -> None:
    async def body() -> None:
        api, anonymous = client("a"), client("anonymous")
        quoted = urllib.parse.quote(malformed, safe="")
        cases: dict[str, Callable[[], Awaitable[httpx.Response]]] = {
            "non-UUID chat id": lambda: stop(api, malformed),
            "unknown chat": lambda: stop(api, unknown),
            "foreign chat": lambda: stop(api, chats["b"].chat_id),
            "no credentials": lambda: stop(anonymous, chats["a"].chat_id),
            "unknown key": lambda: stop(anonymous, chats["a"].chat_id, headers={"x-api-key": key + "-x"}),
            # Undocumented, so not validated against the spec: only its error body is judged.
            "GET on the stop path": lambda: api.http.get(
                stop_path(chats["a"].chat_id), headers=api.auth_headers()
            ),
            "message without a body": lambda: api.request("POST", "/api/chat", json_body={}),
            "resume a non-UUID chat": lambda: api.request("GET", f"/api/chat/{quoted}/stream"),
            "unknown session": lambda: api.request("GET", f"/api/sessions/{unknown}/chats"),
        }
        result = await cases[case]()
        expect(result.status_code >= 400, f"{case}: an error status", result)
        expect_error_body(result)

    run(body)
