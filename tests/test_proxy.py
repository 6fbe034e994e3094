"""`recoup-mock proxy`: what passes through is the upstream's, untouched and unbuffered, and what
breaks the contract is found, named where each user looks, and only that."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from contract_tests.documents import published_document
from contract_tests.mutants import MUTANTS, Mutant, build_app
from mock_server.http.spec import load_document
from mock_server.proxy.app import ProxyApp, ProxySettings
from tests.conftest import KEY_A, TEST_SEED
from tests.contract_runs import IDENTITIES, mock_served, rule_status, run_suite_against, served
from tests.test_contract_suite import PRISM_RUN, prism_serving

USER_MESSAGE = {"id": "m1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}


@asynccontextmanager
async def proxying(
    upstream: str, document: dict[str, Any] | None = None, **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, ProxyApp]]:
    """The proxy in front of `upstream`, served on loopback: a client of it, and the app (its findings)."""
    app = ProxyApp(ProxySettings(upstream=upstream, **settings), document or load_document())
    await app.start()
    try:
        async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield client, app
    finally:
        await app.close()


def response_problems(app: ProxyApp) -> list[dict[str, Any]]:
    return [v for v in app.findings.summary()["violations"] if v["location"][0] != "request"]


async def new_chat(client: httpx.AsyncClient) -> tuple[str, str]:
    answer = await client.post("/api/sessions", json={}, headers={"x-api-key": KEY_A})
    assert answer.status_code == 200, answer.text
    return answer.json()["session"]["id"], answer.json()["chat"]["id"]


@pytest.mark.slow
async def test_the_suite_through_the_proxy_holds_and_the_proxy_blames_the_mock_for_nothing():
    async with mock_served() as upstream, proxying(upstream) as (client, app):
        code, report = await run_suite_against(str(client.base_url), *IDENTITIES)
    assert code == 0, report
    summary = app.findings.summary()
    assert summary["exchanges"] > 500
    assert response_problems(app) == [], response_problems(app)[:5]
    assert summary["requestErrors"] > 0, "the suite's deliberately bad requests are the client's, and said"


PER_EXCHANGE_FAULTS = {
    "problem-json-errors": "error-body",
    "crash-on-strange-id": "status",
    "success-missing": "schema",
    "abort-with-reason": "chunk",
    "chunk-after-abort": "order",
    "delta-before-start": "order",
}
"""Mutants whose fault shows in one exchange, and the code of the problem the proxy names it with.
(`resume-idle-200`'s empty stream is not among them: the suite leaves it at its 200, before its end.)"""


@pytest.mark.parametrize("mutant", MUTANTS.values(), ids=lambda m: m.name)
async def test_through_the_proxy_every_mutant_is_caught_and_its_exchange_faults_named(mutant: Mutant):
    app, runtime = build_app(mutant.name, TEST_SEED)
    await runtime.start()
    try:
        async with served(app) as upstream, proxying(upstream) as (client, proxy):
            code, report = await run_suite_against(
                str(client.base_url), *IDENTITIES, "--rule", mutant.rule, "--max-examples", "3", "--no-shrink"
            )
    finally:
        await runtime.close()
    assert code == 1 and rule_status(report, mutant.rule) == "VIOLATED", report
    expected = PER_EXCHANGE_FAULTS.get(mutant.name)
    if expected is not None:
        codes = {problem["code"] for problem in response_problems(proxy)}
        assert expected in codes, (codes, response_problems(proxy)[:3])


async def test_a_stream_passes_event_by_event_and_is_judged_as_it_passes():
    async with mock_served() as upstream, proxying(upstream) as (client, app):
        session_id, chat_id = await new_chat(client)
        body = {"sessionId": session_id, "chatId": chat_id, "messages": [USER_MESSAGE]}
        request = client.build_request("POST", "/api/chat", json=body, headers={"x-api-key": KEY_A})
        response = await client.send(request, stream=True)
        pieces = response.aiter_raw()
        first = await anext(pieces)
        assert b'"type":"start"' in first, "the first event comes before the answer ends"
        entry = app.findings.journal()[-1]
        assert entry["stream"] and entry["durationMs"] is None, "the exchange is still open"
        stop = await client.post(f"/api/chat/{chat_id}/stop", headers={"x-api-key": KEY_A})
        assert stop.json() == {"success": True, "stopped": True}
        rest = b"".join([piece async for piece in pieces])
        await response.aclose()
    assert (first + rest).rstrip().endswith(b"data: [DONE]")
    streamed = next(e for e in app.findings.journal() if e["stream"])
    assert streamed["events"] > 3 and streamed["violations"] == []
    assert "sl-violations" not in response.headers


async def test_the_client_leaving_a_stream_leaves_the_upstream_too():
    async with mock_served() as upstream, proxying(upstream) as (client, _):
        session_id, chat_id = await new_chat(client)
        body = {"sessionId": session_id, "chatId": chat_id, "messages": [USER_MESSAGE]}
        async with client.stream("POST", "/api/chat", json=body, headers={"x-api-key": KEY_A}) as answer:
            await anext(answer.aiter_raw())
        for _ in range(200):  # the mock cancels an answer whose client left (--on-disconnect cancel)
            chat = await client.get(
                f"/api/sessions/{session_id}/chats/{chat_id}", headers={"x-api-key": KEY_A}
            )
            if not chat.json()["isStreaming"]:
                break
            await asyncio.sleep(0.05)
        assert not chat.json()["isStreaming"], "the upstream's answer ran on after its client left"


async def test_a_violation_is_in_the_sl_violations_header_the_journal_and_the_summary():
    app, runtime = build_app("success-missing", TEST_SEED)
    await runtime.start()
    try:
        async with served(app) as upstream, proxying(upstream) as (client, _proxy):
            _, chat_id = await new_chat(client)
            stop = await client.post(f"/api/chat/{chat_id}/stop", headers={"x-api-key": KEY_A})
            summary = (await client.get("/__mock/violations")).json()
            journal = (await client.get("/__mock/journal")).json()["exchanges"]
    finally:
        await runtime.close()
    assert stop.status_code == 200 and stop.json() == {"stopped": False}, "the upstream's answer, as it was"
    violations = json.loads(stop.headers["sl-violations"])
    assert [v["location"][:2] for v in violations] == [["response", "body"]]
    assert violations[0]["severity"] == "Error" and "success" in violations[0]["message"]
    assert summary["errors"] == 1 and summary["byCode"] == {"schema": 1}
    assert journal[-1]["violations"] == violations
    assert journal[-1]["requestHeaders"]["x-api-key"] == "<redacted>", "a key is never journalled"


async def test_with_errors_a_bad_request_is_refused_before_the_upstream_and_a_bad_answer_replaced():
    app, runtime = build_app("success-missing", TEST_SEED)
    await runtime.start()
    try:
        async with served(app) as upstream, proxying(upstream, errors=True) as (client, _):
            _, chat_id = await new_chat(client)
            seen = len(runtime.journal.entries())
            refused = await client.post(
                "/api/sessions", content=b"[]", headers={"content-type": "application/json"}
            )
            assert len(runtime.journal.entries()) == seen, "a refused request never reached the upstream"
            replaced = await client.post(f"/api/chat/{chat_id}/stop", headers={"x-api-key": KEY_A})
    finally:
        await runtime.close()
    assert refused.status_code == 401 and refused.json()["status"] == "error"
    assert "request.security" in refused.json()["error"] and "sl-violations" in refused.headers
    assert replaced.status_code == 500 and replaced.json()["status"] == "error"
    assert "success" in replaced.json()["error"]


async def _gzipped_answer(scope: Scope, receive: Receive, send: Send) -> None:
    """An upstream that answers every stop with a gzip-coded JSON body."""
    if scope["type"] != "http":
        return
    body = gzip.compress(b'{"success": true, "stopped": false}', mtime=0)
    headers = [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")]
    headers += [(b"content-length", str(len(body)).encode()), (b"connection", b"x-hop"), (b"x-hop", b"1")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def test_a_coded_body_passes_byte_for_byte_is_judged_decoded_and_hop_by_hop_fields_go():
    async with served(_gzipped_answer) as upstream, proxying(upstream) as (client, app):
        request = client.build_request(
            "POST", "/api/chat/11111111-1111-4111-8111-111111111111/stop", headers={"x-api-key": KEY_A}
        )
        answer = await client.send(request, stream=True)
        raw = b"".join([piece async for piece in answer.aiter_raw()])
    assert raw == gzip.compress(b'{"success": true, "stopped": false}', mtime=0)
    assert answer.headers["content-encoding"] == "gzip" and "x-hop" not in answer.headers
    assert answer.headers["via"].endswith("1.1 recoup-mock")
    assert response_problems(app) == []


async def test_an_unreachable_upstream_is_502_in_the_contracts_body():
    async with proxying("http://127.0.0.1:9") as (client, _):
        answer = await client.post(
            "/api/chat/11111111-1111-4111-8111-111111111111/stop", headers={"x-api-key": KEY_A}
        )
    assert answer.status_code == 502 and answer.json()["status"] == "error"


async def test_the_report_is_json_or_junit_and_a_bad_request_fails_no_test_case(tmp_path: Path):
    app, runtime = build_app("success-missing", TEST_SEED)
    await runtime.start()
    report_json, report_xml = tmp_path / "report.json", tmp_path / "report.xml"
    try:
        async with served(app) as upstream:
            for report in (report_json, report_xml):
                async with proxying(upstream, report=report) as (client, _):
                    _, chat_id = await new_chat(client)
                    await client.post(f"/api/chat/{chat_id}/stop", headers={"x-api-key": KEY_A})
                    await client.post(f"/api/chat/{chat_id}/stop")  # no key: the client's fault
    finally:
        await runtime.close()
    data = json.loads(report_json.read_text())
    assert data["errors"] == 1 and data["requestErrors"] == 1
    xml = report_xml.read_text()
    assert 'failures="1"' in xml and 'name="POST /api/chat/{chatId}/stop"' in xml
    assert KEY_A not in report_json.read_text() + xml, "no key on disk"


async def test_in_front_of_prism_only_its_error_answers_are_blamed():
    """Prism's mock of the published page answers its stops right and its errors as problem+json:
    the proxy, judging by the published page, names those and nothing else."""
    published = published_document()
    async with prism_serving() as upstream, proxying(upstream, document=published) as (client, app):
        code, _ = await run_suite_against(str(client.base_url), *IDENTITIES, *PRISM_RUN)
    assert code == 1, "the suite still finds Prism's faults through the proxy"
    blamed = response_problems(app)
    exchanges = {e["id"]: e for e in app.findings.journal()}
    assert blamed, "Prism's problem+json errors are violations"
    assert all(exchanges[v["exchange"]]["status"] >= 400 for v in blamed), "a right answer is never blamed"
    assert any("application/problem+json" in v["message"] for v in blamed)


async def test_an_upstream_mocks_admin_api_is_forwarded_unjudged_and_the_proxys_own_paths_are_get_only():
    async with mock_served() as upstream, proxying(upstream) as (client, app):
        state = await client.get("/__mock/state")
        refused = await client.post("/__mock/violations")
    assert state.status_code == 200 and "accounts" in state.json(), "the upstream mock's admin API, through"
    assert app.findings.summary()["violations"] == [], "the admin API is no part of the contract"
    assert refused.status_code == 405 and refused.headers["allow"] == "GET"


async def _odd_upstream(scope: Scope, receive: Receive, send: Send) -> None:
    """An upstream with a UTF-8 header, a body cut short, and a stream in a coding the proxy cannot read."""
    if scope["type"] != "http":
        return
    if scope["path"].endswith("/cut"):
        headers = [(b"content-type", b"application/json"), (b"content-length", b"100")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"success"', "more_body": True})
        raise RuntimeError("the upstream dies mid-answer")  # uvicorn closes the connection
    if scope["path"].endswith("/odd-status"):
        await send({"type": "http.response.start", "status": 999, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    if scope["path"].endswith("/control"):
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 500, "headers": headers})
        await send({"type": "http.response.body", "body": b"\x01\x1b[31m" + b"x" * 5000})
        return
    if "/broken-stream/" in scope["path"]:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        await send({"type": "http.response.body", "body": b'data: {"type":"start"}\n\n', "more_body": True})
        raise RuntimeError("the upstream dies mid-stream")
    if scope["path"].endswith("/stream"):
        headers = [(b"content-type", b"text/event-stream"), (b"content-encoding", b"br")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"\x8b\x02\x80data"})
        return
    headers = [(b"content-type", b"application/json"), (b"x-name", "日本".encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b'{"success": true, "stopped": false}'})


async def test_fields_in_any_bytes_pass_and_a_broken_upstream_is_502_in_the_contracts_body():
    chat = "11111111-1111-4111-8111-111111111111"
    async with served(_odd_upstream) as upstream, proxying(upstream) as (client, app):
        fields = {"x-api-key": KEY_A, "x-title": "café".encode()}  # a field in UTF-8, as browsers send some
        named = await client.post(f"/api/chat/{chat}/stop", headers=fields)
        cut = await client.post("/api/chat/cut", headers={"x-api-key": KEY_A})
        coded = await client.get(f"/api/chat/{chat}/stream", headers={"x-api-key": KEY_A})
    assert named.status_code == 200, named.text
    assert (b"x-name", "日本".encode()) in named.headers.raw, "a field's bytes pass as they came"
    assert cut.status_code == 502 and cut.json()["status"] == "error"
    assert coded.status_code == 200
    streamed = [v for v in response_problems(app) if v["request"].startswith("GET")]
    assert [(v["code"], v["severity"]) for v in streamed] == [("content-coding", "Warning")], streamed


async def test_a_request_whose_client_left_before_its_body_ended_is_not_forwarded():
    async with mock_served() as upstream, proxying(upstream) as (client, _):
        before = (await client.get("/__mock/state")).json()
        _, writer = await asyncio.open_connection(client.base_url.host, client.base_url.port)
        head = f"POST /api/sessions HTTP/1.1\r\nHost: x\r\nx-api-key: {KEY_A}\r\n"
        writer.write((head + "content-type: application/json\r\ncontent-length: 100\r\n\r\n{").encode())
        await writer.drain()
        writer.close()
        await asyncio.sleep(0.3)
        after = (await client.get("/__mock/state")).json()
    assert after == before, "the cut request created nothing upstream"


async def test_what_no_client_can_read_is_502_an_upstreams_stream_cut_is_cut_and_bodies_do_not_spill(
    tmp_path: Path,
):
    report = tmp_path / "report.xml"
    async with served(_odd_upstream) as upstream, proxying(upstream, report=report) as (client, app):
        odd = await client.get("/api/chat/runs/odd-status", headers={"x-api-key": KEY_A})
        control = await client.get("/api/chat/runs/control", headers={"x-api-key": KEY_A})
        with pytest.raises(httpx.RemoteProtocolError):  # cut, as the upstream's was: not a normal end
            await client.get("/api/chat/broken-stream/stream", headers={"x-api-key": KEY_A})
        messages = [v["message"] for v in response_problems(app)]
    assert odd.status_code == 502 and odd.json()["status"] == "error"
    assert control.status_code == 500, "the upstream's answer, as it was"
    assert all("\x1b" not in m and len(m) < 1100 for m in messages), "a body never spills raw or whole"
    ElementTree.parse(report)  # well-formed, whatever the bodies held


async def test_a_body_in_another_media_type_is_the_clients_fault_not_the_upstreams():
    form = {"x-api-key": KEY_A, "content-type": "application/x-www-form-urlencoded"}
    async with mock_served() as upstream, proxying(upstream) as (client, app):
        answer = await client.post("/api/sessions", content=b"title=x", headers=form)
    assert answer.status_code == 415, answer.text
    assert response_problems(app) == [], "a refusal of a request the contract does not describe"
    assert app.findings.summary()["requestErrors"] == 1


async def test_a_fault_of_the_judge_is_said_and_the_request_still_goes_through():
    def broken(_request: object) -> list[object]:
        raise KeyError("a judge's own fault")

    async with mock_served() as upstream, proxying(upstream) as (client, app):
        app.judge.request = broken  # type: ignore[method-assign,assignment]
        answer = await client.post("/api/sessions", json={}, headers={"x-api-key": KEY_A})
    assert answer.status_code == 200, "the upstream's answer, as if nothing had been judged"
    (said,) = [v for v in app.findings.summary()["violations"] if v["code"] == "judge"]
    assert said["severity"] == "Warning" and "KeyError" in said["message"]
