"""Headless runs, `POST /api/chat/runs` and `GET /api/chat/runs/{runId}`, as the service answers
them (`lib/chat/runs/**`): an agent answer with no client stream, on a session of its own, that a
stop, a resume and a second send treat like any other answer.
"""

from __future__ import annotations

import pytest

from contract_tests.client import ChatRef, RecoupClient


async def start(api: RecoupClient, **body: object) -> dict[str, str]:
    response = await api.request("POST", "/api/chat/runs", json_body=body)
    assert response.status_code == 202, response.text
    started: dict[str, str] = response.json()
    assert response.headers["location"] == f"/api/chat/runs/{started['runId']}"
    return started


async def status(api: RecoupClient, run_id: str) -> str:
    response = await api.request("GET", f"/api/chat/runs/{run_id}")
    assert response.status_code == 200 and response.json()["runId"] == run_id
    return str(response.json()["status"])


async def test_a_run_answers_on_a_session_and_chat_of_its_own(live: RecoupClient):
    started = await start(live, prompt="  Plan my tour  ", model="other-model")
    chat = ChatRef(started["sessionId"], started["chatId"])
    assert await status(live, started["runId"]) == "running"
    session = (await live.request("GET", f"/api/sessions/{chat.session_id}")).json()["session"]
    assert session["title"] == "Scheduled generation"
    # Its stream is the chat's: a resume follows it to its end, and the run is completed.
    stream = await live.read_stream("GET", f"/api/chat/{chat.chat_id}/stream")
    assert stream.headers["x-workflow-run-id"] == started["runId"]
    assert stream.types()[-1] == "finish" and "abort" not in stream.types()
    assert await status(live, started["runId"]) == "completed"
    state = await live.chat_state(chat)
    assert state["chat"]["title"] == "Scheduled generation" and state["chat"]["modelId"] == "other-model"
    user, answer = state["messages"]
    assert user["parts"] == [{"type": "text", "text": "Plan my tour"}] and answer["role"] == "assistant"


async def test_a_run_is_stopped_like_any_answer_and_reads_cancelled(live: RecoupClient):
    started = await start(
        live, messages=[{"id": "m1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}]
    )
    assert (await live.stop(started["chatId"])).json() == {"success": True, "stopped": True}
    assert await status(live, started["runId"]) == "cancelled"
    assert (await live.request("GET", f"/api/chat/{started['chatId']}/stream")).status_code == 204


async def test_a_send_to_a_runs_chat_follows_the_run(live: RecoupClient):
    started = await start(live, prompt="Plan my tour")
    chat = ChatRef(started["sessionId"], started["chatId"])
    sent = await live.read_stream("POST", "/api/chat", json=live.send_body(chat, "and then?"))
    assert sent.status_code == 200 and sent.headers["x-workflow-run-id"] == started["runId"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"prompt": "  "},
        {"messages": []},
        {"prompt": "x", "messages": [{"id": "m", "role": "user", "parts": []}]},
    ],
)
async def test_a_run_needs_exactly_one_of_prompt_or_messages(api: RecoupClient, body: dict[str, object]):
    response = await api.request("POST", "/api/chat/runs", json_body=body, validate=False)
    # The contract's schema says it (Connexion words the error); the service's words are the
    # domain's, for what the schema lets through.
    assert response.status_code == 400 and response.json()["status"] == "error"


async def test_a_run_for_an_account_the_key_may_not_act_for_is_403(api: RecoupClient):
    for field, error in (("accountId", "account_id"), ("organizationId", "organization_id")):
        response = await api.request("POST", "/api/chat/runs", json_body={"prompt": "x", field: "artist-b"})
        assert (response.status_code, response.json()["error"]) == (
            403,
            f"Access denied to specified {error}",
        )


async def test_a_run_with_an_artist_id_that_is_not_a_uuid_is_400(api: RecoupClient):
    response = await api.request("POST", "/api/chat/runs", json_body={"prompt": "x", "artistId": "nope"})
    assert response.status_code == 400
    assert response.json()["error"] == "artistId must be a valid UUID"


async def test_an_unknown_run_is_404_and_any_key_reads_a_runs_status(api: RecoupClient, api_b: RecoupClient):
    response = await api.request("GET", "/api/chat/runs/run_unknown")
    assert (response.status_code, response.json()["error"]) == (404, "Run not found")
    started = await start(api, prompt="x")
    assert (await api_b.request("GET", f"/api/chat/runs/{started['runId']}")).status_code == 200
