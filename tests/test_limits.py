"""Bounds: what one request may make the mock read and hold, and how much state it keeps; each refusal
is the contract's error body, and a refused request changes nothing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from contract_tests.client import RecoupClient
from mock_server.domain.answers import text_only
from mock_server.http.app import MockApp, create_app
from mock_server.http.error_body import MAX_ERROR_CHARS
from tests.asgi_server import serving
from tests.conftest import KEY_A, TEST_CONFIG, TEST_SEED, asgi_client
from tests.judging import assert_error

LIMITS = replace(TEST_CONFIG, max_body_bytes=50_000, max_json_depth=32, max_chats=4, max_generations=2)


@pytest.fixture
async def bounded() -> AsyncIterator[MockApp]:
    app = create_app(LIMITS, TEST_SEED)
    await app.runtime.start()
    yield app
    await app.runtime.close()


@pytest.fixture
async def api(bounded: MockApp) -> AsyncIterator[RecoupClient]:
    client = asgi_client(bounded, KEY_A)
    yield client
    await client.http.aclose()


async def session_count(app: MockApp) -> int:
    return (await app.runtime.service.state()).sessions


def nested(depth: int) -> bytes:
    return b'{"title":' + b"[" * depth + b"]" * depth + b"}"


# The body


async def test_a_body_over_the_limit_is_413_and_creates_nothing(api: RecoupClient, bounded: MockApp):
    before = await session_count(bounded)
    body = json.dumps({"title": "x" * 60_000}).encode()
    response = await api.request(
        "POST", "/api/sessions", content=body, headers={"content-type": "application/json"}
    )
    assert_error(response, 413, containing="larger than 50,000 bytes")
    assert await session_count(bounded) == before


async def test_a_wrong_key_is_refused_before_the_body_is_read(bounded: MockApp):
    # The body is announced far over the limit and never sent: only a server that answers from the
    # headers alone answers at all.
    async with serving(bounded) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"PATCH /api/sessions/aaaaaaaa-0000-4000-8000-000000000001 HTTP/1.1\r\n"
            b"Host: t\r\nx-api-key: wrong\r\n"
            b"content-type: application/json\r\nContent-Length: 100000000\r\n\r\n{"
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.close()
    assert head.startswith(b"HTTP/1.1 401 ")


async def test_a_chunked_body_over_the_limit_is_413_while_it_streams(bounded: MockApp):
    async with serving(bounded) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            f"POST /api/sessions HTTP/1.1\r\nHost: t\r\nx-api-key: {KEY_A}\r\n"
            "content-type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        piece = b"x" * 4096
        for _ in range(16):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.close()
    assert head.startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize(
    "framing",
    [
        b"Transfer-Encoding: gzip\r\n\r\n{}",
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    ],
    ids=["unknown-transfer-encoding", "bad-chunk-size"],
)
async def test_a_body_that_did_not_arrive_whole_has_no_effect(bounded: MockApp, framing: bytes):
    before = await session_count(bounded)
    async with serving(bounded) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = (
            f"POST /api/sessions HTTP/1.1\r\nHost: t\r\nx-api-key: {KEY_A}\r\n"
            "content-type: application/json\r\n"
        )
        writer.write(head.encode() + framing)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        await asyncio.sleep(0.1)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert await session_count(bounded) == before


# JSON


@pytest.mark.parametrize("depth", [33, 100, 10_000])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/sessions"),
        ("POST", "/api/chat"),
        ("POST", "/api/sessions/aaaaaaaa-0000-4000-8000-000000000001/chats"),
        ("PUT", "/__mock/seed"),
        ("POST", "/__mock/chats/11111111-1111-4111-8111-111111111111/generate"),
    ],
)
async def test_json_nested_too_deep_is_400_on_every_operation_with_a_body(
    api: RecoupClient, method: str, path: str, depth: int
):
    headers = {"content-type": "application/json"}
    response = await api.request(method, path, content=nested(depth), headers=headers, validate=False)
    assert_error(response, 400, containing="nests")


async def test_json_within_the_depth_bound_is_read(api: RecoupClient):
    body = {"title": "deep enough", "organizationId": None}
    response = await api.request("POST", "/api/sessions", json_body=body)
    assert response.status_code == 200


async def test_an_error_quotes_at_most_a_bounded_excerpt_of_the_input(api: RecoupClient):
    response = await api.request("POST", "/api/sessions", json_body={"title": "y" * 9_000}, validate=False)
    body = assert_error(response, 400, containing="characters in all)")
    assert len(body["error"]) < MAX_ERROR_CHARS + 100


# What the mock holds


async def test_a_new_chat_evicts_the_oldest_idle_chat_at_the_cap(api: RecoupClient, bounded: MockApp):
    chats = [await api.create_chat(f"chat {n}") for n in range(LIMITS.max_chats + 2)]
    store = bounded.runtime.service.store
    assert await store.chat_count() == LIMITS.max_chats
    assert await store.get_chat(chats[0].chat_id) is None
    assert await store.get_chat(chats[-1].chat_id) is not None
    response = await api.request("GET", f"/api/sessions/{chats[0].session_id}/chats/{chats[0].chat_id}")
    assert_error(response, 404, "Session not found")  # its session held only it


async def test_at_the_cap_with_every_chat_busy_a_new_chat_is_429(bounded: MockApp):
    app = create_app(replace(LIMITS, max_chats=2, max_generations=0), TEST_SEED)
    await app.runtime.start()
    api = asgi_client(app, KEY_A)
    try:
        for chat in [await api.create_chat("busy 1"), await api.create_chat("busy 2")]:
            await app.runtime.service.generate(chat.chat_id, text_only("long " * 50, repeat=True), fault=None)
        before = await session_count(app)
        response = await api.request("POST", "/api/sessions", json_body={})
        assert_error(response, 429, containing="busy")
        assert response.headers["retry-after"] == "1"
        assert await session_count(app) == before, "a refused session leaves nothing behind"
    finally:
        await api.http.aclose()
        await app.runtime.close()


async def test_answers_beyond_the_generation_cap_are_429_and_leave_the_chat_idle(
    api: RecoupClient, bounded: MockApp
):
    chats = [await api.create_chat(f"gen {n}") for n in range(3)]
    for chat in chats[:2]:
        await bounded.runtime.service.generate(chat.chat_id, text_only("long " * 50, repeat=True), fault=None)
    third = await api.send(chats[2], "one too many")
    assert_error(third, 429, containing="Too many answers")
    assert third.headers["retry-after"] == "1"
    assert (await api.chat_state(chats[2]))["isStreaming"] is False
    for chat in chats[:2]:
        await api.stop(chat.chat_id)
    assert (await api.send(chats[2], "room again")).status_code == 200


async def test_finished_answers_are_freed_after_the_retention_window():
    retention = 3.0  # long enough that a loaded machine reads the count within it
    app = create_app(replace(LIMITS, run_retention=retention, max_generations=0), TEST_SEED)
    await app.runtime.start()
    api = asgi_client(app, KEY_A)
    store = app.runtime.service.store
    try:
        chat = await api.create_chat()
        await api.read_stream("POST", "/api/chat", json=api.send_body(chat, "answer"))
        assert await store.run_count() == 1, "a finished answer is kept for the window"
        # Freed once the window has passed: waited for (a loaded machine runs the sweep late).
        deadline = time.monotonic() + 10 * retention
        while await store.run_count() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert await store.run_count() == 0, "every finished answer's chunks were freed"
    finally:
        await api.http.aclose()
        await app.runtime.close()


async def test_the_journal_keeps_an_excerpt_of_a_large_body_not_the_body(bounded: MockApp):
    raw = httpx.AsyncClient(transport=httpx.ASGITransport(app=bounded), base_url="http://mock")
    body = json.dumps({"title": "z" * 9_000}).encode()
    await raw.post(
        "/api/sessions", content=body, headers={"x-api-key": KEY_A, "content-type": "application/json"}
    )
    [entry] = [e for e in bounded.runtime.journal.entries() if e.path == "/api/sessions"]
    assert len(entry.body) <= 2048 and entry.body_truncated
    await raw.aclose()


async def test_a_seed_larger_than_the_byte_budget_is_507_and_changes_nothing(bounded: MockApp):
    runtime = bounded.runtime
    runtime.store.max_bytes = 20_000
    before = await runtime.service.state()
    chat = {"messages": [{"role": "user", "text": "x" * 30_000}]}
    seed = {"accounts": [{"id": "big", "api_keys": ["big-key"], "sessions": [{"chats": [chat]}]}]}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=bounded), base_url="http://mock") as http:
        response = await http.put("/__mock/seed", json=seed)
    assert_error(response, 507, containing="more than --max-store-bytes (20,000); nothing was changed")
    assert "retry-after" not in response.headers, "a seed too large stays so"
    assert await runtime.service.state() == before
