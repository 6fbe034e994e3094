"""Fixtures: the real app in-process (ASGI) and on a real uvicorn on loopback, and API clients."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from connexion import AsyncApp

from contract_tests.client import ChatRef, RecoupClient
from contract_tests.conformance import SpecConformance
from mock_server.config import Config
from mock_server.http.admin import PREFIX
from mock_server.http.app import create_app
from mock_server.http.spec import ADMIN_SPEC_PATH, load_document
from tests.asgi_server import serving

pytest_plugins = ["pytester", "tests.redis_server"]

KEY_A = "key-a"
KEY_B = "key-b"
TEST_SEED = {
    "accounts": [
        {"id": "artist-a", "api_keys": [KEY_A]},
        {"id": "artist-b", "api_keys": [KEY_B]},
    ]
}
# Fast enough for tests, slow enough that a stop lands mid-answer.
TEST_CONFIG = Config(first_token_delay=0.02, tokens_per_second=200, tool_seconds=0.1, stop_timeout=1.0)
CONFORMANCE = SpecConformance(load_document())


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: two workers per core, as most tests spend their time waiting, not computing."""
    return 2 * len(os.sched_getaffinity(0))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first: each takes a minute or more, and one begun last would end the run last."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
async def app() -> AsyncIterator[AsyncApp]:
    app = create_app(TEST_CONFIG, TEST_SEED)
    await app.runtime.start()
    yield app
    await app.runtime.close()


def asgi_client(app: AsyncApp, api_key: str | None) -> RecoupClient:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock")
    return RecoupClient(http, api_key, CONFORMANCE)


@pytest.fixture
async def api(app: AsyncApp) -> AsyncIterator[RecoupClient]:
    """Account A, in-process."""
    client = asgi_client(app, KEY_A)
    yield client
    await client.http.aclose()


@pytest.fixture
async def api_b(app: AsyncApp) -> AsyncIterator[RecoupClient]:
    """Account B, in-process."""
    client = asgi_client(app, KEY_B)
    yield client
    await client.http.aclose()


@pytest.fixture
async def anonymous(app: AsyncApp) -> AsyncIterator[RecoupClient]:
    client = asgi_client(app, None)
    yield client
    await client.http.aclose()


@pytest.fixture
async def live_url(app: AsyncApp) -> AsyncIterator[str]:
    """The same app served by uvicorn on a free loopback port."""
    async with serving(app) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
async def live(live_url: str) -> AsyncIterator[RecoupClient]:
    """Account A over real HTTP."""
    http = httpx.AsyncClient(base_url=live_url, timeout=10)
    yield RecoupClient(http, KEY_A, CONFORMANCE)
    await http.aclose()


@pytest.fixture
async def chat(api: RecoupClient) -> ChatRef:
    """A fresh, idle chat of account A."""
    return await api.create_chat()


def admin_conformance() -> SpecConformance:
    """The admin document with its paths under the prefix they are served at."""
    document = load_document(ADMIN_SPEC_PATH)
    document["paths"] = {PREFIX + path: item for path, item in document["paths"].items()}
    return SpecConformance(document)


ADMIN_CONFORMANCE = admin_conformance()


class AdminClient:
    """The admin API over any transport; every response is checked against the admin document."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.http.request(method, PREFIX + path, **kwargs)
        ADMIN_CONFORMANCE.check(response)
        return response

    async def state(self) -> dict[str, Any]:
        response = await self.request("GET", "/state")
        assert response.status_code == 200, response.text
        return response.json()

    async def journal(self, **filters: Any) -> list[dict[str, Any]]:
        response = await self.request("GET", "/journal", params=filters)
        assert response.status_code == 200, response.text
        return response.json()["entries"]

    async def generate(self, chat_id: str, **options: Any) -> httpx.Response:
        return await self.request("POST", f"/chats/{chat_id}/generate", json=options)


@pytest.fixture
async def admin(app: AsyncApp) -> AsyncIterator[AdminClient]:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock")
    yield AdminClient(http)
    await http.aclose()


@pytest.fixture
def raw(app: AsyncApp) -> httpx.AsyncClient:
    """A plain HTTP client of the app, for requests no well-behaved client sends."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock")
