"""The real server under a bad-input soak, dropped clients and floods.

Each test runs `recoup-mock serve --quiet` with the demo seed and small bounds as a second process on
loopback, and speaks to it over HTTP and raw sockets only. What the server stores is counted as
`GET /__mock/state` shows it (sessions, chats, messages, running generations), never timed; its
resident memory is printed beside, for information. Its stderr must hold no traceback. Run with
`pytest -s tests/test_soak.py` to see the figures.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from mock_server.http.spec import load_document
from tests.soak.negative import negative_soak
from tests.soak.raw import exchange, judge
from tests.soak.raw_cases import raw_cases
from tests.soak.server import (
    CHAT_B,
    GENERATING_A,
    IDLE_A,
    KEY_A,
    KEY_B,
    SEED_SESSION_A,
    SEED_SESSION_B,
    SEEDED_RUNNING,
    Server,
    Stored,
    chats_in,
    get_state,
    running_server,
    stored,
)
from tests.soak.tally import Tally

PACING = ("--tokens-per-second", "200", "--first-token-delay", "0.01", "--tool-seconds", "0.05")
SOAK_FLAGS = (
    *PACING,
    # Above the 100,000-deep JSON body (200 KB), so that its depth is what refuses it, not its size.
    "--max-body-bytes",
    "262144",
    "--max-chats",
    "500",
    "--max-generations",
    "50",
    "--run-retention",
    "1",
    # A request that stops half-way is timed out soon, not after the default 10 s.
    "--header-timeout",
    "2",
    "--body-timeout",
    "1",
)
SCHEMATHESIS_EXAMPLES = 120
"""Negative cases per operation; each is sent twice (as generated, and keyed)."""
SCHEMATHESIS_SEED = 20260101
SOAK_SECONDS = 60
"""Schemathesis sends no more cases after this long into the soak (a bound for slow machines)."""


def _headers(key: str) -> dict[str, str]:
    return {"x-api-key": key}


def _message(session_id: str, chat_id: str, text: str) -> dict[str, Any]:
    return {
        "sessionId": session_id,
        "chatId": chat_id,
        "messages": [{"id": f"u-{text}", "role": "user", "parts": [{"type": "text", "text": text}]}],
    }


async def new_session(http: httpx.AsyncClient, key: str = KEY_A) -> tuple[str, str]:
    response = await http.post("/api/sessions", json={"title": "soak"}, headers=_headers(key))
    assert response.status_code == 200, response.text
    body = response.json()
    return body["session"]["id"], body["chat"]["id"]


async def new_chat(http: httpx.AsyncClient, session_id: str, key: str = KEY_A) -> str:
    response = await http.post(f"/api/sessions/{session_id}/chats", json={}, headers=_headers(key))
    assert response.status_code == 200, response.text
    return response.json()["chat"]["id"]


async def answer(http: httpx.AsyncClient, session_id: str, chat_id: str, text: str) -> tuple[int, list[str]]:
    """Send a message and read its answer to the end: the status and the chunk types."""
    types: list[str] = []
    async with http.stream(
        "POST", "/api/chat", json=_message(session_id, chat_id, text), headers=_headers(KEY_A)
    ) as r:
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                types.append("[DONE]" if line == "data: [DONE]" else json.loads(line[6:])["type"])
        return r.status_code, types


async def answer_then_stop(http: httpx.AsyncClient, session_id: str, chat_id: str) -> list[str]:
    """Send a message, stop its answer after its first deltas, and read the stream to its end."""
    types: list[str] = []
    stopped = False
    body = _message(session_id, chat_id, "stop me")
    async with http.stream("POST", "/api/chat", json=body, headers=_headers(KEY_A)) as r:
        assert r.status_code == 200
        async for line in r.aiter_lines():
            if not line.startswith("data: "):
                continue
            types.append("[DONE]" if line == "data: [DONE]" else json.loads(line[6:])["type"])
            if not stopped and types.count("reasoning-delta") >= 3:
                stop = await http.post(f"/api/chat/{chat_id}/stop", headers=_headers(KEY_A))
                assert stop.json() == {"success": True, "stopped": True}, stop.text
                stopped = True
    assert stopped and "abort" in types, types
    return types


async def chat_view(http: httpx.AsyncClient, key: str, session_id: str, chat_id: str) -> tuple[int, Any]:
    response = await http.get(f"/api/sessions/{session_id}/chats/{chat_id}", headers=_headers(key))
    return response.status_code, response.json()


async def wait_idle(
    http: httpx.AsyncClient, key: str, session_id: str, chat_id: str, seconds: float = 5
) -> None:
    deadline = time.monotonic() + seconds
    while True:
        status, view = await chat_view(http, key, session_id, chat_id)
        if status != 200 or not view["isStreaming"]:
            return  # a chat gone is reported by the comparison that follows
        assert time.monotonic() < deadline, f"chat {chat_id} still streaming after {seconds} s"
        await asyncio.sleep(0.05)


def traceback_free(server: Server, problems: list[str]) -> None:
    log = server.stderr()
    if "Traceback" in log:
        problems.append(f"the server's stderr has {log.count('Traceback')} traceback(s):\n{log[-6000:]}")


# 1. The bad-input soak


API_OPERATIONS = sum(
    method in ("get", "post", "put", "patch", "delete")
    for item in load_document()["paths"].values()
    for method in item
)


@pytest.mark.slow
async def test_thousands_of_bad_requests_get_no_5xx_and_change_no_chat(tmp_path: Path):
    tally = Tally()
    problems: list[str] = []
    started = time.monotonic()
    with running_server(tmp_path, "soak", *SOAK_FLAGS) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=15) as http:
            # Chats to keep: the seeded idle and generating chats of A, B's chat, and new ones of A:
            # one answered to its end, one stopped mid-answer, one never written to.
            session, answered = await new_session(http)
            status, types = await answer(http, session, answered, "answer me")
            assert status == 200 and types[-2:] == ["finish", "[DONE]"], types
            stopped = await new_chat(http, session)
            await answer_then_stop(http, session, stopped)
            empty = await new_chat(http, session)
            # The seeded answer of GENERATING_A streams until stopped, or until its 20,000 deltas are
            # out (100 s at this pacing, longer than the soak): its messages and chat stay as they are.
            kept = [
                (KEY_A, SEED_SESSION_A, IDLE_A),
                (KEY_A, SEED_SESSION_A, GENERATING_A),
                (KEY_B, SEED_SESSION_B, CHAT_B),
                (KEY_A, session, answered),
                (KEY_A, session, stopped),
                (KEY_A, session, empty),
            ]
            for key, s, c in kept:
                if c != GENERATING_A:
                    await wait_idle(http, key, s, c)
            before = {c: await chat_view(http, key, s, c) for key, s, c in kept}
            state_before = await get_state(http)
            counted_before = stored(state_before)
            rss_before = server.rss_kib()

            # Raw-socket cases, one connection each; bodies that could change a chat aim at `answered`.
            lines = []
            for case in raw_cases(session, answered):
                rss = server.rss_kib()
                result = await exchange(server.port, case.steps, answers=case.answers)
                lines.append(judge(case, result, tally, rss_growth=server.rss_kib() - rss))

            # Schemathesis's negative data, every API operation (in a thread: requests is blocking).
            await asyncio.to_thread(
                negative_soak,
                server.base_url,
                tally,
                examples=SCHEMATHESIS_EXAMPLES,
                seed=SCHEMATHESIS_SEED,
                stop=lambda: time.monotonic() - started > SOAK_SECONDS,
            )
            cut_short = time.monotonic() - started > SOAK_SECONDS
            operations = {kind.rsplit(" (", 1)[0] for kind in tally.sent if kind.startswith("schemathesis")}
            if len(operations) != API_OPERATIONS:
                reached = f"{len(operations)} of the {API_OPERATIONS} API operations"
                problems.append(f"Schemathesis reached {reached}: {operations}")

            # Nothing kept changed, and the server still answers.
            for key, s, c in kept:
                if c != GENERATING_A:
                    await wait_idle(http, key, s, c)
            after = {c: await chat_view(http, key, s, c) for key, s, c in kept}
            for chat_id, view in before.items():
                if after[chat_id] != view:
                    problems.append(f"chat {chat_id} changed:\n  before {view}\n  after  {after[chat_id]}")
            state_after = await get_state(http)
            counted_after = stored(state_after)
            for chat_id in before:
                was, now = chats_in(state_before).get(chat_id), chats_in(state_after).get(chat_id)
                if was != now and chat_id != GENERATING_A:
                    problems.append(f"chat {chat_id} in /__mock/state changed: {was} -> {now}")
            still = await http.post(f"/api/chat/{IDLE_A}/stop", headers=_headers(KEY_A))
            if still.json() != {"success": True, "stopped": False}:
                problems.append(f"the server no longer answers as before: {still.status_code} {still.text}")
            rss_after = server.rss_kib()
            if server.process.poll() is not None:
                problems.append(f"the server exited with {server.process.returncode}")
    traceback_free(server, problems)

    print("\n== bad-input soak ==")
    print(f"raw-socket cases ({len(lines)}):")
    print("\n".join(lines))
    print(tally.report())
    print(f"stored before: {counted_before}   RSS {rss_before} KiB")
    print(f"stored after:  {counted_after}   RSS {rss_after} KiB")
    print(f"kept chats unchanged: {'yes' if not any('changed' in p for p in problems) else 'NO'}")
    print(
        f"took {time.monotonic() - started:.1f} s"
        + (" (Schemathesis cut short by the time bound)" if cut_short else "")
    )
    problems += [f"5xx: {e}" for e in tally.server_errors] + tally.failures
    assert not problems, "\n".join(problems)


# 2. Dropped clients

DROPPED = 50


async def _drop_after_first_chunk(port: int, request: bytes, reset: bool) -> bytes:
    """Open an answer stream, read its head and first event, then leave (FIN, or RST if `reset`)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        if head.startswith(b"HTTP/1.1 200 "):
            await asyncio.wait_for(reader.readuntil(b"\n\n"), 5)  # the first event
        return head.split(b"\r\n", 1)[0]
    finally:
        if reset:
            writer.transport.abort()
        else:
            writer.close()


def _raw_post_chat(session_id: str, chat_id: str, text: str) -> bytes:
    body = httpx.Request("POST", "http://x", json=_message(session_id, chat_id, text)).read()
    return (
        b"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: %s\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (KEY_A.encode(), len(body), body)
    )


async def test_dropped_clients_leave_no_chat_generating(tmp_path: Path):
    problems: list[str] = []
    flags = (*PACING, "--max-generations", str(DROPPED + SEEDED_RUNNING + 10), "--run-retention", "1")
    with running_server(tmp_path, "dropped", *flags) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=15) as http:
            chats = [await new_session(http) for _ in range(DROPPED)]
            counted_before = stored(await get_state(http))
            # 50 answers, each left after its first event: half with a FIN, half with a reset; and
            # 10 readers of the seeded running answer, left the same way.
            heads = await asyncio.gather(
                *(
                    _drop_after_first_chunk(server.port, _raw_post_chat(s, c, f"drop {n}"), reset=n % 2 == 1)
                    for n, (s, c) in enumerate(chats)
                ),
                *(
                    _drop_after_first_chunk(
                        server.port,
                        b"GET /api/chat/%s/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: %s\r\n\r\n"
                        % (GENERATING_A.encode(), KEY_A.encode()),
                        reset=n % 2 == 1,
                    )
                    for n in range(10)
                ),
            )
            statuses = collections.Counter(h.decode() for h in heads[:DROPPED])
            if set(statuses) != {"HTTP/1.1 200 OK"}:
                problems.append(f"not every dropped answer stream began with 200: {dict(statuses)}")
            # The first reader to leave stops the seeded answer; a reader that comes after finds
            # nothing to resume.
            resumes = collections.Counter(h.decode() for h in heads[DROPPED:])
            if not set(resumes) <= {"HTTP/1.1 200 OK", "HTTP/1.1 204 No Content"}:
                problems.append(f"a dropped resume began with neither 200 nor 204: {dict(resumes)}")
            mine = {c for _, c in chats}
            deadline = time.monotonic() + 10
            waited = 0.0
            while True:
                state = await get_state(http)
                running = [g["chatId"] for g in state["generating"] if g["chatId"] in mine]
                busy = [c for c, view in chats_in(state).items() if c in mine and view["activeStreamId"]]
                if not running and not busy:
                    waited = 10 - (deadline - time.monotonic())
                    break
                if time.monotonic() > deadline:
                    problems.append(
                        f"{len(running)} dropped answers still generating, {len(busy)} chats busy after 10 s"
                    )
                    break
                await asyncio.sleep(0.1)
            counted_dropped = stored(state)
            seeded = chats_in(state)[GENERATING_A]
            if seeded["activeStreamId"] is not None:
                problems.append(f"readers that left did not stop the seeded answer: {seeded}")
            message_counts = collections.Counter(chats_in(state)[c]["messageCount"] for c in mine)
            # A new message to each of those chats is answered, to its end.
            answers = await asyncio.gather(*(answer(http, s, c, "again") for s, c in chats))
            outcome = collections.Counter((status, tuple(types[-2:])) for status, types in answers)
            if set(outcome) != {(200, ("finish", "[DONE]"))}:
                problems.append(f"new messages after a drop were not all answered whole: {dict(outcome)}")
            counted_after = stored(await get_state(http))
    traceback_free(server, problems)

    print("\n== dropped clients ==")
    print(f"answer streams dropped: {DROPPED} (half FIN, half RST); resume readers dropped: 10")
    print(f"their first lines: {dict(statuses)}; the resumes': {dict(resumes)}")
    print(
        f"no dropped chat generating after {waited:.1f} s; messages per dropped chat: {dict(message_counts)}"
    )
    print(f"new messages answered: {dict(outcome)}")
    print(f"stored before: {counted_before}")
    print(f"stored after the drops: {counted_dropped}")
    print(f"stored at the end: {counted_after}")
    assert not problems, "\n".join(problems)


# 3. Floods, memory counted as stored objects

MAX_MESSAGES = 100
"""Messages a chat keeps in the floods' server."""
MAX_CHATS = 500
MAX_GENERATIONS = 50
SESSIONS = 2000
MESSAGES = 300
FLOOD_FLAGS = (
    # Answers without pauses, so that 300 of them in a row take seconds.
    "--tokens-per-second",
    "0",
    "--first-token-delay",
    "0",
    "--tool-seconds",
    "0",
    "--max-body-bytes",
    "65536",
    "--max-chats",
    str(MAX_CHATS),
    "--max-generations",
    str(MAX_GENERATIONS),
    "--run-retention",
    "1",
    "--max-messages-per-chat",
    str(MAX_MESSAGES),
)
HOLD = {"parts": [{"type": "tool", "name": "hold", "input": {}, "output": {}, "seconds": 60}]}
"""An answer that runs a minute without adding a chunk (a tool call), to hold a generation slot."""


@pytest.mark.slow
async def test_floods_keep_stored_objects_bounded(tmp_path: Path):
    problems: list[str] = []
    findings: list[str] = []
    statuses: collections.Counter[str] = collections.Counter()
    lines: list[str] = []
    with running_server(tmp_path, "floods", *FLOOD_FLAGS) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=15) as http:
            seeded = stored(await get_state(http))
            lines.append(f"seeded: {seeded}   RSS {server.rss_kib()} KiB")

            # 2,000 sessions (each makes a chat), 8 at a time, counted every 250.
            samples: list[Stored] = []
            created = 0

            async def create(n: int) -> None:
                response = await http.post(
                    "/api/sessions", json={"title": f"flood {n}"}, headers=_headers(KEY_A)
                )
                statuses[f"POST /api/sessions {response.status_code}"] += 1

            while created < SESSIONS:
                for start in range(created, created + 250, 8):
                    await asyncio.gather(*(create(n) for n in range(start, min(start + 8, created + 250))))
                created += 250
                samples.append(stored(await get_state(http)))
            after_sessions = samples[-1]
            lines.append(f"after {SESSIONS} sessions: {after_sessions}   RSS {server.rss_kib()} KiB")
            lines.append("  chats at each 250: " + " ".join(str(s.chats) for s in samples))
            lines.append("  sessions at each 250: " + " ".join(str(s.sessions) for s in samples))
            if max(s.chats for s in samples) > MAX_CHATS:
                problems.append(f"stored chats passed --max-chats {MAX_CHATS}: {[s.chats for s in samples]}")
            if after_sessions.sessions > MAX_CHATS + seeded.sessions:
                problems.append(
                    f"stored sessions grow without bound: {after_sessions.sessions} after {SESSIONS} "
                    f"POST /api/sessions with --max-chats {MAX_CHATS} (sessions at each 250: "
                    f"{[s.sessions for s in samples]}); every session beyond {MAX_CHATS} + {seeded.sessions} "
                    "seeded holds no chat: its chats were evicted, the session was kept"
                )
            state = await get_state(http)
            gone = [c for c in (IDLE_A, CHAT_B) if c not in chats_in(state)]
            if gone:
                findings.append(
                    f"account A's flood of sessions evicted the seeded idle chats {gone} (B's included), "
                    "as --max-chats documents (the oldest idle chat makes room)"
                )

            # 300 messages in a row to one chat, each read to its end.
            session, chat = await new_session(http)
            before_messages = stored(await get_state(http))
            rss = server.rss_kib()
            counts: list[str] = []
            for n in range(MESSAGES):
                status, types = await answer(http, session, chat, f"m{n}")
                statuses[f"POST /api/chat {status}"] += 1
                if status != 200 or types[-2:] != ["finish", "[DONE]"]:
                    problems.append(f"message {n}: {status} {types[-3:]}")
                    break
                if (n + 1) % 50 == 0:
                    state = await get_state(http)
                    view = chats_in(state)[chat]
                    counted = stored(state)
                    counts.append(f"{n + 1}:{view['messageCount']}")
                    if counted.generating > SEEDED_RUNNING or view["generation"] is not None:
                        problems.append(f"after {n + 1} answers read to their end: {counted}, chat {view}")
            after_messages = stored(await get_state(http))
            grown = server.rss_kib() - rss
            lines.append(f"before {MESSAGES} messages: {before_messages}")
            lines.append(f"after {MESSAGES} messages: {after_messages}   RSS {grown:+d} KiB over the flood")
            lines.append(f"  the chat's stored messages at each 50 answers: {' '.join(counts)}")
            lines.append(
                "  finished runs are not countable over HTTP: /__mock/state shows a chat's generation only "
                "while its activeStreamId names it; it shows none after each answer"
            )
            kept = [int(count.split(":")[1]) for count in counts]
            if max(kept) > MAX_MESSAGES:
                problems.append(f"a chat kept more than --max-messages-per-chat {MAX_MESSAGES}: {counts}")

            # More answers at once than --max-generations: the extra ones are 429, their chats idle.
            held = stored(await get_state(http)).generating
            free = MAX_GENERATIONS - held
            holders = [await new_session(http) for _ in range(free)]
            extra = [await new_session(http) for _ in range(10)]
            generated = await asyncio.gather(
                *(http.post(f"/__mock/chats/{c}/generate", json=HOLD) for _, c in holders)
            )
            for response in generated:
                statuses[f"POST /__mock/chats/{{id}}/generate {response.status_code}"] += 1
            full = stored(await get_state(http))
            refused = await asyncio.gather(
                *(
                    http.post("/api/chat", json=_message(s, c, "one too many"), headers=_headers(KEY_A))
                    for s, c in extra
                )
            )
            for response in refused:
                statuses[f"POST /api/chat at the cap {response.status_code}"] += 1
                if response.status_code != 429 or response.headers.get("retry-after") is None:
                    problems.append(
                        f"an answer beyond the cap: {response.status_code} {dict(response.headers)}"
                    )
            for s, c in extra:
                _, view = await chat_view(http, KEY_A, s, c)
                if view["isStreaming"] or view["messages"]:
                    problems.append(f"a refused answer left its chat changed: {view}")
            lines.append(
                f"generation cap {MAX_GENERATIONS}: {held} running, {free} held through the admin API "
                f"({full.generating} running), 10 more POST /api/chat: "
                f"{dict(collections.Counter(r.status_code for r in refused))}, "
                f"Retry-After {sorted({r.headers.get('retry-after') for r in refused}, key=str)}"
            )
            stops = await asyncio.gather(
                *(http.post(f"/api/chat/{c}/stop", headers=_headers(KEY_A)) for _, c in holders)
            )
            statuses.update(f"POST /api/chat/{{id}}/stop {r.status_code}" for r in stops)
            status, types = await answer(http, *extra[0], "room again")
            statuses[f"POST /api/chat after the stops {status}"] += 1
            if status != 200:
                problems.append(f"after the stops, a new answer: {status}")
            end = stored(await get_state(http))
            lines.append(f"at the end: {end}   RSS {server.rss_kib()} KiB")
    traceback_free(server, problems)
    five = {k: n for k, n in statuses.items() if k.rsplit(" ", 1)[1].startswith("5")}
    if five:
        problems.append(f"5xx during the floods: {five}")

    print("\n== floods ==")
    print("\n".join(lines))
    print("requests by kind and status:")
    print("\n".join(f"  {n:6d}  {k}" for k, n in sorted(statuses.items())))
    print(f"5xx: {sum(five.values())}")
    print("findings:" + "".join(f"\n  {f}" for f in findings) if findings else "findings: none")
    assert not problems, "\n".join(problems)


# 4. What the soak found, one by one


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory):
    with running_server(tmp_path_factory.mktemp("shared"), "shared", *PACING) as server:
        yield server


@pytest.mark.parametrize(
    "target, headers, body",
    [
        ("POST /api/sessions", {"content-type": "application/json"}, b'{"title": ' + b"1" * 5000 + b"}"),
        (f"POST /api/chat/{IDLE_A}/stop", {"prefer": "delay=" + "1" * 5000}, None),
        (f"POST /api/chat/{IDLE_A}/stop", {"prefer": "delay=\xb2"}, None),
        ("GET /__mock/journal?since=%C2%B2", {}, None),
        ("GET /__mock/journal?since=" + "1" * 5000, {}, None),
        ("GET /__mock/state?cursor=%C2%B2", {}, None),
    ],
    ids=[
        "an integer of 5,000 digits in a JSON body",
        "Prefer: delay of 5,000 digits",
        "Prefer: delay as a superscript digit",
        "journal since= a superscript digit",
        "journal since= 5,000 digits",
        "state cursor= a superscript digit",
    ],
)
async def test_a_number_python_cannot_convert_is_a_400_not_a_500(
    shared_server: Server, target: str, headers: dict[str, str], body: bytes | None
):
    method, path = target.split(" ", 1)
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"x-api-key: {KEY_A}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    head.append(f"Content-Length: {len(body or b'')}")
    result = await exchange(
        shared_server.port, [("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b"")]
    )
    [response] = result.responses
    assert response.status == 400, (response.status, response.body)
    assert b'"status": "error"' in response.body


async def test_a_connect_request_is_answered_and_leaves_no_traceback(shared_server: Server):
    # An authority-form target, as CONNECT has: uvicorn cannot parse it as a URL.
    before = len(shared_server.stderr())
    result = await exchange(
        shared_server.port, [b"CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n"]
    )
    await asyncio.sleep(0.2)
    log = shared_server.stderr()[before:]
    assert "Traceback" not in log, log
    assert result.responses, f"closed without an answer: {result}"
    response = result.responses[0]
    assert 400 <= response.status < 500, response
    assert json.loads(response.body)["status"] == "error"
