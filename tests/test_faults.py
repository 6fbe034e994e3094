"""Faults of the real service on real chats: a stop that times out (504), a cancel that fails (502),
a stream that breaks mid-way; set from a seed file or from the admin API."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from connexion import AsyncApp

from contract_tests.client import ChatRef, RecoupClient
from mock_server.config import Config
from mock_server.domain.chunks import assemble
from mock_server.http.app import create_app
from tests.conftest import KEY_A, AdminClient, asgi_client
from tests.judging import assert_error

SESSION = "aaaaaaaa-0000-4000-8000-00000000000a"
IGNORES_CANCEL = "44444444-4444-4444-8444-444444444504"
CANCEL_FAILS = "44444444-4444-4444-8444-444444444502"
BREAKS = "44444444-4444-4444-8444-4444444444bb"
STOP_TIMEOUT = 0.3
FAULT_SEED = {
    "accounts": [
        {
            "id": "artist-a",
            "api_keys": [KEY_A],
            "sessions": [
                {
                    "id": SESSION,
                    "chats": [
                        {"id": IGNORES_CANCEL, "generating": {"fault": "ignore-cancel"}},
                        {"id": CANCEL_FAILS, "generating": {"fault": "cancel-fails"}},
                        {"id": BREAKS, "generating": {"fault": "break-stream", "repeat": False}},
                    ],
                }
            ],
        }
    ]
}


@pytest.fixture
async def seeded() -> AsyncIterator[tuple[AsyncApp, RecoupClient]]:
    app = create_app(
        Config(first_token_delay=0.02, tokens_per_second=50, tool_seconds=0.1, stop_timeout=STOP_TIMEOUT),
        FAULT_SEED,
    )
    await app.runtime.start()
    client = asgi_client(app, KEY_A)
    yield app, client
    await client.http.aclose()
    await app.runtime.close()


async def is_streaming(api: RecoupClient, chat_id: str) -> bool:
    state = await api.chat_state(ChatRef(SESSION, chat_id))
    return state["isStreaming"]


async def test_seeded_generation_ignoring_cancel_makes_stop_504_after_the_timeout(seeded):
    _, api = seeded
    started = time.monotonic()
    response = await api.stop(IGNORES_CANCEL)
    waited = time.monotonic() - started
    assert_error(response, 504, "Workflow did not terminate in time")
    assert STOP_TIMEOUT <= waited < STOP_TIMEOUT + 1
    assert await is_streaming(api, IGNORES_CANCEL), "the chat stays generating after a 504"


async def test_seeded_cancel_failure_makes_stop_502_at_once(seeded):
    _, api = seeded
    started = time.monotonic()
    response = await api.stop(CANCEL_FAILS)
    assert time.monotonic() - started < STOP_TIMEOUT
    assert_error(response, 502, "Failed to stop the workflow")
    assert await is_streaming(api, CANCEL_FAILS), "the chat stays generating after a 502"


async def test_seeded_stream_fails_mid_way_with_an_error_chunk_then_finish(seeded):
    _, api = seeded
    log = await api.read_stream("GET", f"/api/chat/{BREAKS}/stream")
    assert log.status_code == 200
    assert log.types()[-2:] == ["error", "finish"], "a failed turn still ends with finish"
    assert log.chunks[-2]["errorText"] == "The stream broke off"
    assert log.text, "part of the answer came before the break"
    assert log.done
    assert not await is_streaming(api, BREAKS)
    messages = (await api.chat_state(ChatRef(SESSION, BREAKS)))["messages"]
    assert messages[-1]["metadata"] == {"status": "failed"}


async def test_admin_sets_ignore_cancel_on_a_real_chat(api: RecoupClient, admin: AdminClient, chat: ChatRef):
    started = await admin.generate(chat.chat_id, fault="ignore-cancel")
    assert started.status_code == 200
    assert started.json()["fault"] == "ignore-cancel"
    response = await api.stop(chat.chat_id)
    assert_error(response, 504, "Workflow did not terminate in time")
    assert (await api.chat_state(chat))["isStreaming"] is True


async def test_admin_sets_cancel_fails_on_a_real_chat(api: RecoupClient, admin: AdminClient, chat: ChatRef):
    assert (await admin.generate(chat.chat_id, fault="cancel-fails")).status_code == 200
    assert_error(await api.stop(chat.chat_id), 502, "Failed to stop the workflow")
    assert (await api.chat_state(chat))["isStreaming"] is True


async def test_admin_sets_break_stream_on_a_real_chat(api: RecoupClient, admin: AdminClient, chat: ChatRef):
    response = await admin.generate(
        chat.chat_id, fault="break-stream", repeat=False, text="one two three four"
    )
    assert response.status_code == 200
    log = await api.read_stream("GET", f"/api/chat/{chat.chat_id}/stream")
    assert log.types()[-2:] == ["error", "finish"]
    assert log.text == "one two ", "the stream breaks half-way through the answer's chunks"


async def test_each_stream_of_a_drop_stream_answer_ends_early_and_reconnecting_reads_it_whole(
    live: RecoupClient, admin: AdminClient
):
    chat = await live.create_chat()
    parts = [
        {"type": "reasoning", "text": "Checking the dates."},
        {"type": "tool", "name": "get_tour_dates", "input": {"year": 2027}, "output": {"n": 2}, "seconds": 1},
        # Long enough to outlast a reconnect on a loaded machine: a run that ended is not resumed.
        {"type": "text", "text": "Two dates in 2027. " * 20},
    ]
    response = await admin.generate(chat.chat_id, parts=parts, fault="drop-stream")
    assert response.status_code == 200 and response.json()["fault"] == "drop-stream"
    run_id = response.json()["runId"]
    streams = []
    while True:
        read = sum(len(log.chunks) for log in streams)
        log = await live.read_stream("GET", f"/api/chat/{chat.chat_id}/stream?startIndex={read}")
        assert log.status_code == 200, "the run goes on while its streams are dropped"
        assert log.headers["x-workflow-run-id"] == run_id
        streams.append(log)
        if log.done:
            break
        assert "finish" not in log.types(), "a dropped stream has neither finish nor [DONE]"
        assert len(streams) < 10
    assert [log.types()[-1] for log in streams] == [
        "start-step",
        "tool-input-available",
        "start-step",
        "finish",
    ]
    chunks = [chunk for log in streams for chunk in log.chunks]
    state = await live.chat_state(chat)
    assert state["messages"][-1]["parts"] == assemble(chunks), "nothing lost or doubled"
    assert [part["type"] for part in assemble(chunks)] == [
        "step-start",
        "reasoning",
        "tool-get_tour_dates",
        "step-start",
        "text",
    ]


async def test_admin_generation_without_fault_is_stopped_normally(
    api: RecoupClient, admin: AdminClient, chat: ChatRef
):
    assert (await admin.generate(chat.chat_id)).json()["fault"] is None
    assert (await api.stop(chat.chat_id)).json() == {"success": True, "stopped": True}
    assert (await api.chat_state(chat))["isStreaming"] is False
