"""A real browser: headless Chromium loads the demo page from another origin than the API, sends a
message, watches the agent's answer stream in as parts (reasoning, a tool call, text), presses Stop
and sees the stream stop; Swagger UI loads the contract and calls the mock.

Playwright drives Debian's Chromium (`/usr/bin/chromium`); it never downloads a browser. Screenshots
are saved under `artifacts/`.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from mock_server.config import Config
from mock_server.http.app import create_app
from mock_server.http.pages import STATIC_DIR
from mock_server.http.spec import load_document
from tests.asgi_server import serving
from tests.conftest import KEY_A, TEST_SEED

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
# Slow enough that Stop lands while the tool runs, or while the text streams (about 1.7 s of it).
BROWSER_CONFIG = Config(first_token_delay=0.05, tokens_per_second=100, tool_seconds=2.0, stop_timeout=1.0)

if not CHROMIUM.exists():
    if os.environ.get("RECOUP_MOCK_REQUIRE_BROWSER"):
        raise RuntimeError(f"{CHROMIUM} is missing and RECOUP_MOCK_REQUIRE_BROWSER is set")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright  # noqa: E402


@pytest.fixture
async def servers() -> AsyncIterator[tuple[str, str]]:
    """The mock at http://127.0.0.1:A and, at http://localhost:B, a plain static server of the page."""
    app = create_app(BROWSER_CONFIG, TEST_SEED)
    await app.runtime.start()
    static = Starlette(routes=[Mount("/", StaticFiles(directory=STATIC_DIR))])
    async with serving(app) as api_port, serving(static) as page_port:
        yield f"http://127.0.0.1:{api_port}", f"http://localhost:{page_port}"
    await app.runtime.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
        )
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(10_000)
    yield page
    await context.close()


async def open_demo(page: Page, api_url: str, page_origin: str) -> str:
    """Load the demo page from `page_origin`, start a session; return its chat's id."""
    await page.goto(f"{page_origin}/demo.html?api={api_url}&key={KEY_A}")
    await page.click("#new-session")
    await page.wait_for_function("document.getElementById('chat').textContent.length === 36")
    return await page.text_content("#chat") or ""


async def send(page: Page, text: str) -> None:
    await page.fill("#message", text)
    await page.click("#send")


async def test_demo_page_on_another_origin_streams_and_stop_stops_it(servers, page: Page):
    api_url, page_origin = servers
    console: list[ConsoleMessage] = []
    page.on("console", lambda message: console.append(message))
    chat_id = await open_demo(page, api_url, page_origin)

    await send(page, "Please write a long press release for the tour.")
    text = page.locator('#answer [data-part="text"]')
    await page.wait_for_function(
        """() => (document.querySelector('#answer [data-part="text"]')?.textContent ?? '')
        .split(' ').length > 4"""
    )
    assert await page.get_attribute("#status", "data-state") == "streaming"

    await page.click("#stop")
    await page.wait_for_function("document.getElementById('status').dataset.state === 'stopped'")
    await page.wait_for_function("document.getElementById('stop-result').textContent !== '-'")
    assert await page.text_content("#stop-result") == "200 stopped: true"
    answer = await text.text_content() or ""
    await asyncio.sleep(20 / BROWSER_CONFIG.tokens_per_second)
    assert await text.text_content() == answer, "the answer went on after Stop"
    assert not answer.rstrip().endswith("every state."), "Stop must land before the answer's end"
    assert await text.get_attribute("data-state") == "streaming", "a stopped text never ends"
    tool = page.locator('#answer [data-part="tool"]')
    assert await tool.get_attribute("data-state") == "output-available"
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "demo-stopped.png", full_page=True)

    async with httpx.AsyncClient(base_url=api_url) as http:
        journal = (await http.get("/__mock/journal")).json()["entries"]
        state = (await http.get("/__mock/state")).json()
    preflights = {
        (e["path"], e["headers"]["access-control-request-method"]): e for e in journal if e["preflight"]
    }
    for path in ("/api/sessions", "/api/chat", f"/api/chat/{chat_id}/stop"):
        preflight = preflights[(path, "POST")]
        assert preflight["status"] == 200
        assert preflight["headers"]["origin"] == page_origin
        assert "x-api-key" in preflight["headers"]["access-control-request-headers"]
    [stop] = [e for e in journal if e["operationId"] == "stopChat"]
    assert stop["status"] == 200
    assert stop["headers"]["origin"] == page_origin
    [chat] = state["accounts"][0]["sessions"][0]["chats"]
    assert chat["activeStreamId"] is None
    assert state["generating"] == []
    errors = [m.text for m in console if m.type == "error"]
    assert errors == [], errors


async def test_a_whole_answer_shows_reasoning_the_tool_with_its_output_and_the_text(servers, page: Page):
    api_url, page_origin = servers
    await open_demo(page, api_url, page_origin)

    await send(page, "When is the next tour?")
    tool = page.locator('#answer [data-part="tool"]')
    await tool.and_(page.locator('[data-state="input-available"]')).wait_for()
    assert await tool.locator(".badge").text_content() == "running…"
    await page.wait_for_function("document.getElementById('status').dataset.state === 'finished'")

    parts = await page.eval_on_selector_all(
        "#answer > [data-part]", "elements => elements.map(e => e.dataset.part)"
    )
    assert parts == ["reasoning", "tool", "text"]
    reasoning = page.locator('#answer [data-part="reasoning"]')
    assert await reasoning.get_attribute("data-state") == "done"
    assert await reasoning.locator(".label").text_content() == "Reasoning"
    assert "The user wrote" in (await reasoning.locator(".body").text_content() or "")

    assert await tool.get_attribute("data-tool") == "search_web"
    assert await tool.get_attribute("data-state") == "output-available"
    assert await tool.locator(".badge").text_content() == "output-available"
    tool_input = json.loads(await tool.locator(".input pre").text_content() or "")
    assert tool_input == {"query": "When is the next tour?", "limit": 3}
    assert '\n  "limit": 3' in (await tool.locator(".input pre").text_content() or ""), "pretty JSON"
    output = json.loads(await tool.locator(".output pre").text_content() or "")
    assert len(output["results"]) == 3
    assert await tool.locator(".error").is_hidden()

    text = page.locator('#answer [data-part="text"]')
    assert await text.get_attribute("data-state") == "done"
    assert (await text.text_content() or "").rstrip().endswith("every state.")
    assert await page.text_content("#stop-result") == "-"


async def test_stop_during_a_tool_call_shows_the_tool_cancelled(servers, page: Page):
    api_url, page_origin = servers
    await open_demo(page, api_url, page_origin)

    await send(page, "Find the venues of the tour.")
    tool = page.locator('#answer [data-part="tool"][data-tool="search_web"]')
    await tool.and_(page.locator('[data-state="input-available"]')).wait_for()
    await page.click("#stop")

    await tool.and_(page.locator('[data-state="output-error"]')).wait_for()
    assert await tool.locator(".badge").text_content() == "output-error"
    assert await tool.locator(".error pre").text_content() == "Cancelled"
    assert await tool.locator(".output").is_hidden()
    assert json.loads(await tool.locator(".input pre").text_content() or "")["limit"] == 3
    await page.wait_for_function("document.getElementById('status').dataset.state === 'stopped'")
    await page.wait_for_function("document.getElementById('stop-result').textContent !== '-'")
    assert await page.text_content("#stop-result") == "200 stopped: true"
    assert await page.locator('#answer [data-part="text"]').count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "demo-tool-cancelled.png", full_page=True)


async def test_a_scripted_answer_shows_its_data_parts_and_a_failed_tool(servers, page: Page):
    api_url, page_origin = servers
    answer = [
        {
            "type": "tool",
            "name": "get_tour_dates",
            "input": {"year": 2027},
            "error": "Calendar offline",
            "seconds": 0,
        },
        {"type": "data", "name": "status", "data": {"step": "writing", "progress": 0.5}},
        {"type": "text", "text": "The calendar could not be read."},
    ]
    async with httpx.AsyncClient(base_url=api_url) as http:
        (await http.put("/__mock/seed", json={**TEST_SEED, "answer": answer})).raise_for_status()
    await open_demo(page, api_url, page_origin)

    await send(page, "When is the next tour?")
    await page.wait_for_function("document.getElementById('status').dataset.state === 'finished'")

    tool = page.locator('#answer [data-part="tool"]')
    assert await tool.get_attribute("data-tool") == "get_tour_dates"
    assert await tool.get_attribute("data-state") == "output-error"
    assert await tool.locator(".error pre").text_content() == "Calendar offline"
    data = page.locator('#answer [data-part="data"]')
    assert await data.get_attribute("data-name") == "status"
    assert "data-status" in (await data.text_content() or "")
    assert json.loads(await data.locator("pre").text_content() or "") == answer[1]["data"]
    assert await page.text_content('#answer [data-part="text"]') == "The calendar could not be read."


async def chat_items(page: Page) -> list[tuple[str, str, str]]:
    """The chat list as shown: each chat's title, whether it is marked unread, whether selected."""
    items = await page.eval_on_selector_all(
        "#chats li",
        "items => items.map(i => [i.querySelector('.open').textContent, i.dataset.unread,"
        " i.dataset.selected])",
    )
    return [tuple(item) for item in items]


async def test_the_demo_page_lists_renames_and_deletes_chats_and_shows_unread_answers(servers, page: Page):
    api_url, page_origin = servers
    first = await open_demo(page, api_url, page_origin)
    await send(page, "When is the next tour?")
    await page.wait_for_function("document.getElementById('status').dataset.state === 'finished'")
    await page.click("#new-chat")
    await page.wait_for_function("document.querySelectorAll('#chats li').length === 2")
    # The first chat's answer was never opened since it came: unread, with its dot shown.
    assert await chat_items(page) == [("New chat", "true", "false"), ("New chat", "false", "true")]
    assert await page.locator('#chats li[data-unread="true"] .unread').is_visible()

    await page.fill("#chat-title", "Tour plans")
    await page.click("#rename-chat")
    await page.wait_for_function(
        "[...document.querySelectorAll('#chats .open')].some(b => b.textContent === 'Tour plans')"
    )
    await page.click(f'#chats li[data-chat-id="{first}"] .open')
    await page.wait_for_function(f"document.getElementById('chat').textContent === '{first}'")
    await page.wait_for_function("!document.querySelector('#chats li[data-unread=\"true\"]')")
    assert await chat_items(page) == [("New chat", "false", "true"), ("Tour plans", "false", "false")]

    await page.click("#delete-chat")
    await page.wait_for_function(
        "document.querySelectorAll('#chats li').length === 1"
        " && document.querySelector('#chats li').dataset.selected === 'true'"
    )
    assert await chat_items(page) == [("Tour plans", "false", "true")]
    await page.click("#delete-chat")
    await page.wait_for_function("document.getElementById('chats-result').textContent !== ''")
    assert await page.text_content("#chats-result") == "400 Cannot delete the only chat in a session"


async def test_swagger_ui_loads_the_contract_and_authorize_makes_calls_work(servers, page: Page):
    api_url, _ = servers
    await page.goto(f"{api_url}/ui/")
    await page.wait_for_selector("#operations-chat-stopChat")
    operations = sum(
        method in ("get", "post", "patch", "delete")
        for item in load_document()["paths"].values()
        for method in item
    )
    assert await page.locator(".opblock").count() == operations == 14

    await page.click("button.authorize")
    dialog = page.locator(".modal-ux")
    await dialog.wait_for()
    schemes = dialog.locator(".auth-container")
    assert await schemes.count() == 2
    assert "apiKeyAuth" in await schemes.nth(0).inner_text()
    assert "bearerAuth" in await schemes.nth(1).inner_text()
    await schemes.nth(0).locator("input").fill(KEY_A)
    await schemes.nth(0).locator("button.authorize").click()
    await dialog.locator("button.btn-done").first.click()

    operation = page.locator("#operations-chat-stopChat")
    await operation.locator(".opblock-summary").click()
    await operation.locator("button.try-out__btn").click()
    await operation.locator("input[placeholder='chatId']").fill("0b7a3c1e-9f0d-4c55-8e21-6a0f6d7e5b42")
    await operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tbody .response-col_status").first
    await status.wait_for()
    assert (await status.inner_text()).strip().startswith("404")
    assert "Chat not found" in await operation.locator(".live-responses-table").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "swagger-ui.png", full_page=True)
