"""The admin API's guard: no foreign web page and no rebound DNS name reaches `/__mock`; the mock's
own pages, non-browser clients, configured origins and token holders do.

Each foreign-origin case runs in-process (ASGI) and over a real uvicorn on loopback; two more drive a
real Chromium (a foreign page's simple POST, a rebound name) when it is installed.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from contract_tests.client import ChatRef, RecoupClient
from mock_server.http.app import MockApp, create_app
from tests.asgi_server import serving
from tests.conftest import KEY_A, TEST_CONFIG, TEST_SEED, AdminClient

EVIL = "https://evil.example"
DASHBOARD = "http://dashboard.example:3000"
TOKEN = "s3cret-admin-token"
IN_PROCESS = "http://127.0.0.1:4010"
KINDS = ("in-process", "loopback")
CHROMIUM = Path("/usr/bin/chromium")
UNKNOWN = "0b7a3c1e-9f0d-4c55-8e21-6a0f6d7e5b42"


@contextlib.asynccontextmanager
async def client_of(app: MockApp, kind: str) -> AsyncIterator[httpx.AsyncClient]:
    """A plain client of `app`, in-process or over uvicorn on loopback; no Origin, a loopback Host."""
    if kind == "in-process":
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=IN_PROCESS) as client:
            yield client
    else:
        async with serving(app) as port, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield client


@contextlib.asynccontextmanager
async def app_with(**settings: Any) -> AsyncIterator[MockApp]:
    app = create_app(replace(TEST_CONFIG, **settings), TEST_SEED)
    await app.runtime.start()
    try:
        yield app
    finally:
        await app.runtime.close()


@pytest.fixture(params=KINDS)
async def http(request: pytest.FixtureRequest, app: MockApp) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app, request.param) as client:
        yield client


def own_origin(http: httpx.AsyncClient) -> str:
    return str(http.base_url).rstrip("/")


def refusal(response: httpx.Response, status: int) -> str:
    """The error message of a refusal in the contract's body, which grants no CORS."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"status", "error"} and body["status"] == "error", body
    assert not [name for name in response.headers if name.startswith("access-control-")]
    return str(body["error"])


async def keys_of(http: httpx.AsyncClient, **headers: str) -> list[str]:
    response = await http.get("/__mock/state", headers=headers)
    assert response.status_code == 200, response.text
    return [key for account in response.json()["accounts"] for key in account["apiKeys"]]


@pytest.mark.parametrize("path", ["/state", "/seed", "/journal"])
async def test_a_foreign_origin_cannot_read_the_state(http: httpx.AsyncClient, path: str):
    response = await http.get("/__mock" + path, headers={"Origin": EVIL})
    assert "evil.example" in refusal(response, 403)
    assert KEY_A not in response.text


async def test_a_foreign_page_cannot_reset_the_chats_are_intact(
    http: httpx.AsyncClient, api: RecoupClient, chat: ChatRef
):
    # A form or fetch POST without a body is a "simple" request: a browser sends it without preflight.
    response = await http.post("/__mock/reset", headers={"Origin": EVIL})
    assert "content-type" not in response.request.headers
    refusal(response, 403)
    assert (await api.chat_state(chat))["chat"]["id"] == chat.chat_id


async def test_a_foreign_page_cannot_replace_the_seed_generate_or_clear(
    http: httpx.AsyncClient, api: RecoupClient, chat: ChatRef
):
    foreign = {"Origin": EVIL, "content-type": "text/plain"}
    seed = '{"accounts": [{"id": "evil", "api_keys": ["evil-key"]}]}'
    refusal(await http.put("/__mock/seed", content=seed, headers=foreign), 403)
    refusal(await http.post(f"/__mock/chats/{chat.chat_id}/generate", content="{}", headers=foreign), 403)
    refusal(await http.request("DELETE", "/__mock/journal", headers={"Origin": EVIL}), 403)
    assert await keys_of(http) == [KEY_A, "key-b"]
    assert (await api.chat_state(chat))["isStreaming"] is False


async def test_a_cross_site_preflight_gets_no_cors_grant(http: httpx.AsyncClient):
    preflight = {
        "Origin": EVIL,
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type",
        "Access-Control-Request-Private-Network": "true",
    }
    for path in ("/__mock/seed", "/__mock/state", "/__mock/openapi.json"):
        refusal(await http.options(path, headers=preflight), 403)


async def test_a_cross_site_request_without_origin_is_refused(http: httpx.AsyncClient):
    refusal(await http.get("/__mock/state", headers={"Sec-Fetch-Site": "cross-site"}), 403)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "own"},
        {"Origin": "own", "Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},
        {"Sec-Fetch-Site": "same-origin"},
    ],
    ids=["no-origin", "same-origin", "same-origin-fetch", "typed-url", "same-origin-without-origin"],
)
async def test_the_mocks_own_pages_still_reach_the_admin_api(http: httpx.AsyncClient, headers):
    headers = {k: own_origin(http) if v == "own" else v for k, v in headers.items()}
    assert await keys_of(http, **headers) == [KEY_A, "key-b"]
    reset = await http.post("/__mock/reset", headers=headers)
    assert reset.status_code == 200, reset.text
    assert "access-control-allow-origin" not in reset.headers


async def test_the_apis_cors_does_not_apply_to_the_admin_api(http: httpx.AsyncClient):
    admin = await http.get("/__mock/state", headers={"Origin": own_origin(http)})
    assert "access-control-allow-origin" not in admin.headers
    api = await http.get(f"/api/sessions/{UNKNOWN}/chats", headers={"Origin": EVIL})
    assert api.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("host", ["evil.example", "evil.example:4010", "192.0.2.7:4010"])
async def test_a_rebinding_host_is_refused(http: httpx.AsyncClient, api: RecoupClient, chat: ChatRef, host):
    message = refusal(await http.get("/__mock/state", headers={"Host": host}), 403)
    assert "Host" in message and "--admin-host" in message
    # The rebound page's own requests are same-origin: its Origin names the rebound host.
    same_origin = {"Host": host, "Origin": f"http://{host}"}
    refusal(await http.post("/__mock/reset", headers=same_origin), 403)
    assert (await api.chat_state(chat))["chat"]["id"] == chat.chat_id


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST:4010", "127.0.0.1", "127.1.2.3:80", "[::1]:4010", "localhost."]
)
async def test_loopback_hosts_reach_the_admin_api(app: MockApp, host: str):
    async with client_of(app, "in-process") as http:
        assert await keys_of(http, Host=host)


async def test_the_listen_host_and_admin_hosts_reach_the_admin_api():
    async with (
        app_with(host="devbox.lan", admin_hosts=("mock.internal",)) as app,
        client_of(app, "in-process") as http,
    ):
        for host in ("devbox.lan:4010", "mock.internal", "MOCK.internal:8080"):
            assert await keys_of(http, Host=host)
        refusal(await http.get("/__mock/state", headers={"Host": "other.lan"}), 403)


@pytest.mark.parametrize("kind", KINDS)
async def test_the_token_is_required_when_set(kind: str):
    async with app_with(admin_token=TOKEN) as app, client_of(app, kind) as http:
        for headers in ({}, {"x-mock-admin-token": "wrong"}, {"Authorization": f"Basic {TOKEN}"}):
            response = await http.get("/__mock/state", headers=headers)
            assert "token" in refusal(response, 401)
            assert response.headers["www-authenticate"].startswith("Bearer")
        refusal(await http.post("/__mock/reset"), 401)
        assert await keys_of(http, Authorization=f"Bearer {TOKEN}") == [KEY_A, "key-b"]
        assert await keys_of(http, **{"x-mock-admin-token": TOKEN}) == [KEY_A, "key-b"]
        # The token is the credential: any Host may present it (a mock reached by its LAN name).
        assert await keys_of(http, Host="devbox.lan:4010", Authorization=f"Bearer {TOKEN}")


async def test_the_token_does_not_let_another_site_in():
    async with app_with(admin_token=TOKEN) as app, client_of(app, "in-process") as http:
        refusal(await http.get("/__mock/state", headers={"Origin": EVIL, "x-mock-admin-token": TOKEN}), 403)


async def test_the_admin_document_needs_no_token_and_declares_it():
    async with app_with(admin_token=TOKEN) as app, client_of(app, "in-process") as http:
        response = await http.get("/__mock/openapi.json")
        assert response.status_code == 200
        document = response.json()
        assert set(document["components"]["securitySchemes"]) == {"adminBearer", "adminToken"}
        assert {} in document["security"], "the token is optional: only a mock started with it needs it"


@pytest.mark.parametrize("kind", KINDS)
async def test_a_configured_admin_origin_may_call_it(kind: str):
    async with (
        app_with(admin_cors_origins=(DASHBOARD,), admin_token=TOKEN) as app,
        client_of(app, kind) as http,
    ):
        preflight = await http.options(
            "/__mock/seed",
            headers={
                "Origin": DASHBOARD,
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "content-type, x-mock-admin-token",
                "Access-Control-Request-Private-Network": "true",
            },
        )
        assert preflight.status_code == 200, preflight.text
        assert preflight.headers["access-control-allow-origin"] == DASHBOARD
        assert "x-mock-admin-token" in preflight.headers["access-control-allow-headers"]
        assert preflight.headers["access-control-allow-private-network"] == "true"
        called = {"Origin": DASHBOARD, "Sec-Fetch-Site": "cross-site", "x-mock-admin-token": TOKEN}
        response = await http.get("/__mock/state", headers=called)
        assert response.status_code == 200, response.text
        assert response.headers["access-control-allow-origin"] == DASHBOARD
        readable_refusal = await http.get("/__mock/state", headers={"Origin": DASHBOARD})
        assert readable_refusal.status_code == 401
        assert readable_refusal.headers["access-control-allow-origin"] == DASHBOARD
        refusal(await http.get("/__mock/state", headers={**called, "Origin": EVIL}), 403)


@pytest.mark.parametrize("kind", KINDS)
async def test_no_admin_hides_the_admin_api(kind: str):
    async with app_with(admin_enabled=False) as app, client_of(app, kind) as http:
        for method, path in [
            ("GET", "/__mock/state"),
            ("POST", "/__mock/reset"),
            ("GET", "/__mock/openapi.json"),
            ("GET", "/__mock"),
        ]:
            response = await http.request(method, path)
            assert refusal(response, 404) == "Not found"
        stop = await http.post(f"/api/chat/{UNKNOWN}/stop", headers={"x-api-key": KEY_A})
        assert stop.json()["error"] == "Chat not found"
        assert (await http.get("/demo/")).status_code == 200


async def test_refusals_are_documented_in_the_admin_document(admin: AdminClient):
    """The admin client checks every answer against the admin document, refusals included."""
    assert (await admin.request("GET", "/state", headers={"Origin": EVIL})).status_code == 403
    assert (await admin.request("POST", "/reset", headers={"Host": "evil.example"})).status_code == 403


def serve(*args: str, **env: str) -> subprocess.Popen[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_MOCK_")}
    return subprocess.Popen(
        [sys.executable, "-m", "mock_server.cli", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**clean, "PYTHONUNBUFFERED": "1", **env},
    )


@contextlib.contextmanager
def serving_cli(*args: str, **env: str) -> Iterator[tuple[str, str]]:
    """`recoup-mock serve` on loopback: its base URL and its banner."""
    process = serve(*args, **env)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        while "account" not in banner:
            line = process.stdout.readline()
            assert line, f"no banner: {process.stderr.read() if process.stderr else ''}"
            banner += line
        yield banner.split()[3], banner  # it listens before it prints
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize(
    ("args", "env"), [(["--host", "0.0.0.0"], {}), ([], {"RECOUP_MOCK_HOST": "::"})], ids=["flag", "env"]
)
def test_serve_refuses_a_public_host_without_a_token(args: list[str], env: dict[str, str]):
    process = serve(*args, **env)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 2
    assert stdout == ""
    [line] = stderr.strip().splitlines()
    assert line.startswith("recoup-mock: --host ") and "not a loopback address" in line
    assert "--admin-token" in line and "--no-admin" in line


def test_serve_with_a_token_guards_the_admin_api_and_no_admin_hides_it():
    with serving_cli(RECOUP_MOCK_ADMIN_TOKEN=TOKEN) as (base_url, banner):
        assert "token required" in banner and TOKEN not in banner
        assert httpx.get(base_url + "/__mock/state").status_code == 401
        assert httpx.get(base_url + "/__mock/state", headers={"x-mock-admin-token": TOKEN}).status_code == 200
    with serving_cli("--no-admin") as (base_url, banner):
        assert "admin API: off" in banner
        assert httpx.get(base_url + "/__mock/state").json() == {"status": "error", "error": "Not found"}


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("RECOUP_MOCK_REQUIRE_BROWSER"):
            raise RuntimeError(f"{CHROMIUM} is missing and RECOUP_MOCK_REQUIRE_BROWSER is set")
        pytest.skip(f"{CHROMIUM} is not installed")
    return CHROMIUM


async def in_browser(chromium: Path, url: str, script: str, *flags: str, wait_for: str = "body") -> Any:
    """Open `url` in headless Chromium, wait for `wait_for`, and evaluate `script` there."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu", *flags], headless=True
        )
        try:
            page = await browser.new_page()
            page.set_default_timeout(10_000)
            await page.goto(url)
            await page.wait_for_selector(wait_for)
            return await page.evaluate(script)
        finally:
            await browser.close()


FOREIGN_PAGE_SCRIPT = """async () => {
  const mock = document.body.dataset.mock, outcome = {};
  for (const [name, init] of [["reset", {method: "POST"}], ["state", {}]]) {
    try { outcome[name] = (await fetch(`${mock}/__mock/${name}`, init)).status; }
    catch (error) { outcome[name] = "blocked"; }
  }
  return outcome;
}"""


async def test_a_real_browser_on_a_foreign_page_cannot_reset_or_read(
    chromium: Path, app: MockApp, api: RecoupClient, chat: ChatRef
):
    async with serving(app) as mock_port:
        mock = f"http://127.0.0.1:{mock_port}"

        async def page(_request: Any) -> HTMLResponse:
            return HTMLResponse(f"<body data-mock='{mock}'>a page on another site</body>")

        async with serving(Starlette(routes=[Route("/", page)])) as page_port:
            outcome = await in_browser(chromium, f"http://localhost:{page_port}/", FOREIGN_PAGE_SCRIPT)
    assert outcome == {"reset": "blocked", "state": "blocked"}
    assert (await api.chat_state(chat))["chat"]["id"] == chat.chat_id


async def test_a_real_browser_through_a_rebound_name_is_refused(chromium: Path, app: MockApp):
    script = "async () => { const r = await fetch('/__mock/state'); return [r.status, await r.text()]; }"
    async with serving(app) as port:
        url = f"http://rebound.example:{port}/demo/"
        rules = "--host-resolver-rules=MAP rebound.example 127.0.0.1"
        status, text = await in_browser(chromium, url, script, rules)
    assert status == 403
    assert KEY_A not in text and "rebound.example" in text


async def test_swagger_ui_still_loads_the_admin_document_when_a_token_is_set(chromium: Path):
    async with app_with(admin_token=TOKEN) as app, serving(app) as port:
        url = f"http://127.0.0.1:{port}/ui/?urls.primaryName=Mock%20admin%20API"
        script = (
            "() => [document.querySelectorAll('.opblock').length, !!document.querySelector('.authorize')]"
        )
        operations, authorize = await in_browser(chromium, url, script, wait_for="#operations-state-getState")
    assert (operations, authorize) == (7, True)
