"""CORS: browser pages on other origins can call every route, read every answer, and be restricted."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from contract_tests.client import RecoupClient
from mock_server.http.app import create_app
from tests.conftest import TEST_CONFIG, TEST_SEED

ORIGIN = "http://localhost:5173"
UNKNOWN_CHAT = "0b7a3c1e-9f0d-4c55-8e21-6a0f6d7e5b42"
STOP_PATH = "/api/chat/0b7a3c1e-9f0d-4c55-8e21-6a0f6d7e5b42/stop"


def preflight_headers(origin: str = ORIGIN, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "x-api-key, content-type, authorization, prefer",
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", STOP_PATH),
        ("POST", "/api/chat"),
        ("GET", "/api/chat/0b7a3c1e-9f0d-4c55-8e21-6a0f6d7e5b42/stream"),
        ("POST", "/api/sessions"),
        ("GET", "/api/sessions/0b7a3c1e-9f0d-4c55-8e21-6a0f6d7e5b42/chats"),
        (
            "PATCH",
            "/api/sessions/0b7a3c1e-9f0d-4c55-8e21-6a0f6d7e5b42/chats/0b7a3c1e-9f0d-4c55-8e21-6a0f6d7e5b43",
        ),
        (
            "DELETE",
            "/api/sessions/0b7a3c1e-9f0d-4c55-8e21-6a0f6d7e5b42/chats/0b7a3c1e-9f0d-4c55-8e21-6a0f6d7e5b43",
        ),
        ("POST", "/api/chat/runs"),
        # not /__mock: the admin API grants no origin unless configured (tests/test_admin_guard.py)
    ],
)
async def test_preflight_of_any_route_is_allowed_without_credentials(raw: httpx.AsyncClient, method, path):
    response = await raw.options(path, headers=preflight_headers(method=method))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"x-api-key", "authorization", "content-type", "prefer"} <= allowed
    assert method in response.headers["access-control-allow-methods"]


async def test_stream_answer_exposes_the_workflow_headers(live: RecoupClient):
    chat = await live.create_chat()
    log = await live.read_stream(
        "POST", "/api/chat", json=live.send_body(chat, "Hi"), headers={"Origin": ORIGIN}
    )
    assert log.status_code == 200
    assert log.headers["access-control-allow-origin"] == "*"
    exposed = {h.strip() for h in log.headers["access-control-expose-headers"].split(",")}
    assert {"x-workflow-run-id", "x-workflow-stream-tail-index"} <= exposed


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"x-api-key": "wrong"}, 401), ({"x-api-key": "key-a"}, 404)],
)
async def test_error_responses_carry_cors_headers(anonymous: RecoupClient, headers, status):
    response = await anonymous.request("POST", STOP_PATH, headers={"Origin": ORIGIN, **headers})
    assert response.status_code == status
    assert response.headers["access-control-allow-origin"] == "*"
    assert "x-workflow-run-id" in response.headers["access-control-expose-headers"]


@pytest.fixture
async def restricted() -> httpx.AsyncClient:
    app = create_app(
        replace(TEST_CONFIG, cors_origins=(ORIGIN, "https://app.example")),
        TEST_SEED,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock")


async def test_restricted_cors_allows_the_listed_origins(restricted: httpx.AsyncClient):
    for origin in (ORIGIN, "https://app.example"):
        response = await restricted.options(STOP_PATH, headers=preflight_headers(origin))
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == origin


async def test_restricted_cors_refuses_other_origins_with_an_error_body(restricted: httpx.AsyncClient):
    response = await restricted.options(STOP_PATH, headers=preflight_headers("http://evil.example"))
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["status"] == "error"
    assert "origin" in response.json()["error"]
    assert "access-control-allow-origin" not in response.headers


async def test_restricted_cors_gives_other_origins_no_allow_origin(restricted: httpx.AsyncClient):
    response = await restricted.post(
        STOP_PATH, headers={"Origin": "http://evil.example", "x-api-key": "key-a"}
    )
    assert response.status_code == 404
    assert "access-control-allow-origin" not in response.headers
    allowed = await restricted.post(STOP_PATH, headers={"Origin": ORIGIN, "x-api-key": "key-a"})
    assert allowed.headers["access-control-allow-origin"] == ORIGIN


async def test_preflight_asking_for_an_unlisted_header_is_refused(raw: httpx.AsyncClient):
    headers = {**preflight_headers(), "Access-Control-Request-Headers": "x-api-key, x-secret"}
    response = await raw.options(STOP_PATH, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"].startswith("Disallowed CORS headers")


async def test_a_request_without_origin_gets_no_cors_headers(raw: httpx.AsyncClient):
    response = await raw.post(f"/api/chat/{UNKNOWN_CHAT}/stop", headers={"x-api-key": "key-a"})
    assert response.status_code == 404
    assert not [name for name in response.headers if name.startswith("access-control-")]
    with_origin = await raw.post(
        f"/api/chat/{UNKNOWN_CHAT}/stop", headers={"x-api-key": "key-a", "Origin": ORIGIN}
    )
    assert with_origin.headers["access-control-allow-origin"] == "*"
