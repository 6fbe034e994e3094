"""Ownership on every route that names a session or a chat, as a property: another account's key
gets 403, changes nothing and reveals nothing (no title, no message, no chunk of the owner's), while
the chat is idle, while it generates and once its answer was stopped.

The routes are the served contract's (each is judged only when the judged contract has it); the
stop has its own rule (`test_foreign_chat_is_403`), with the stop's particulars.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from contract_tests.client import ChatRef, RecoupClient, user_message
from contract_tests.rules import (
    CAN_CREATE_CHATS,
    CAN_READ_CHATS,
    CHATS_PATH,
    GENERATION_UNAVAILABLE,
    OPTIONS,
    STOPPED_ANSWER,
    SUITE,
    TARGET,
    Inconclusive,
    client,
    expect,
    expect_answer,
    expect_error,
    generating,
    run,
)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    body: Any = None

    def request_for(self, chat: ChatRef) -> tuple[str, Any]:
        path = self.path.replace("{sessionId}", str(chat.session_id)).replace("{chatId}", chat.chat_id)
        if self.path == "/api/chat":  # the send names its chat in the body
            return path, {
                "sessionId": chat.session_id,
                "chatId": chat.chat_id,
                "messages": [user_message("mine")],
            }
        return path, self.body

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


ROUTES = [
    route
    for route in (
        Route("GET", "/api/sessions/{sessionId}"),
        Route("PATCH", "/api/sessions/{sessionId}", {"title": "taken", "status": "archived"}),
        Route("GET", "/api/sessions/{sessionId}/chats"),
        Route("POST", "/api/sessions/{sessionId}/chats", {}),
        Route("GET", CHATS_PATH),
        Route("PATCH", CHATS_PATH, {"title": "taken"}),
        Route("DELETE", CHATS_PATH),
        Route("POST", CHATS_PATH + "/read"),
        Route("GET", "/api/chat/{chatId}/stream"),
        Route("POST", "/api/chat"),
    )
    if TARGET.has_operation(route.method.lower(), route.path)
]
STATES = ["idle"] if GENERATION_UNAVAILABLE else ["idle", "generating", "stopped"]
SESSION_PATH = "/api/sessions/{sessionId}"
LIST_PATH = "/api/sessions/{sessionId}/chats"
_UNAVAILABLE = (
    "the judged contract has no route but the stop that names a session or a chat"
    if not ROUTES
    else None
    if CAN_CREATE_CHATS and CAN_READ_CHATS and TARGET.has_operation("post", LIST_PATH)
    else "the judged contract cannot create and read the chats this rule needs"
)


def _every_route_and_state(test: Any) -> Any:
    # Each route is judged in each state on every run, however few examples the profile allows.
    for route in ROUTES:
        for state in STATES:
            test = example(route=route, state=state)(test)
    return test


async def _owners_view(owner: RecoupClient, chat: ChatRef) -> dict[str, Any]:
    """What the owner reads of its session and chat, the answer's progress left out."""
    view: dict[str, Any] = {}
    if TARGET.has_operation("get", SESSION_PATH):
        session = await owner.request("GET", f"/api/sessions/{chat.session_id}")
        view["session"] = session.json() if session.status_code == 200 else session.status_code
    if TARGET.has_operation("get", LIST_PATH):
        chats = await owner.request("GET", f"/api/sessions/{chat.session_id}/chats")
        view["chats"] = sorted((c["id"], c["title"], c["modelId"]) for c in chats.json()["chats"])
    state = await owner.chat_state(chat)
    view["chat"] = {key: state["chat"][key] for key in ("id", "sessionId", "title", "modelId")}
    return view


async def _foreign_request(route: Route, chat: ChatRef, state: str, secret: str) -> httpx.Response:
    path, body = route.request_for(chat)
    stranger = client("b")
    response = await stranger.request(route.method, path, json_body=body)
    what = f"{route.label} with another account's key on {'an' if state == 'idle' else 'a'} {state} chat"
    expect_error(response, 403, what)
    leaked = f"{what} reveals the owner's session (its title is in the answer)"
    expect(secret not in response.text, leaked, response)
    return response


@pytest.mark.skipif(_UNAVAILABLE is not None, reason=_UNAVAILABLE or "")
@SUITE.property_test("generation")
@_every_route_and_state
@given(route=st.sampled_from(ROUTES or [Route("GET", SESSION_PATH)]), state=st.sampled_from(STATES))
def test_foreign_session_and_chat_routes_are_403_and_change_nothing(route: Route, state: str) -> None:
    async def body() -> None:
        owner = client("a")
        secret = f"contract: ownership {uuid.uuid4().hex[:12]}"
        chat = await owner.create_chat(secret)
        # A second chat, so that a delete is refused for the owner, not for being the last chat.
        await owner.request("POST", f"/api/sessions/{chat.session_id}/chats", json_body={})
        if state == "stopped":
            async with generating(owner, chat) as generation:
                await owner.stop(chat.chat_id)
                await generation.end(OPTIONS.timeout)
        if state in ("idle", "stopped"):
            before = await _owners_view(owner, chat)
            refused = await _foreign_request(route, chat, state, secret)
            expect(
                await _owners_view(owner, chat) == before,
                f"a refused {route.label} must change nothing",
                refused,
            )
            return
        async with generating(owner, chat) as generation:
            before = await _owners_view(owner, chat)
            refused = await _foreign_request(route, chat, state, secret)
            if generation.finished_by_itself():
                raise Inconclusive("the answer ended by itself during the foreign request")
            expect(
                not generation.reading.done(),
                f"a refused {route.label} must not end the owner's answer",
                refused,
            )
            expect(
                await _owners_view(owner, chat) == before,
                f"a refused {route.label} must change nothing",
                refused,
            )
            # Still the owner's to stop: a refused request that cancelled the answer shows here.
            stopped = await owner.stop(chat.chat_id)
            if not generation.finished_by_itself():
                expect_answer(stopped, STOPPED_ANSWER, f"after a refused {route.label}, the owner's stop")

    run(body)
