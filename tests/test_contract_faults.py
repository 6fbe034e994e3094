"""The suite tells its own faults from the server's: an unsendable request is a suite defect, while a
reset, a dropped connection, a malformed answer or silence is a violation with the request as curl."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from contract_tests.outgoing import Outgoing, header_problem, sendable
from contract_tests.violations import SuiteDefect, ViolationError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Starts a loopback TCP server that answers with `handler`; yields a function giving its URL."""
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> str:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def outgoing_to(url: str, timeout: float = 2.0) -> Outgoing:
    return Outgoing(httpx.AsyncClient(base_url=url, timeout=timeout), timeout)


@pytest.mark.parametrize("value", ["Bearer ", " key", "a\r\nb", "ключ", "x\x00"])
def test_a_header_value_no_client_can_send_is_refused(value: str):
    assert header_problem("authorization", value) is not None
    assert not sendable({"authorization": value})


@pytest.mark.parametrize("value", ["Bearer", "Bearer key-a", "", "a\tb"])
def test_a_legal_header_value_is_sendable(value: str):
    assert header_problem("authorization", value) is None


async def test_building_an_unsendable_request_is_a_suite_defect_naming_it():
    outgoing = await outgoing_to("http://127.0.0.1:9")
    with pytest.raises(SuiteDefect) as defect:
        outgoing.build("POST", "/api/chat/x/stop", headers={"Authorization": "Bearer "})
    assert "POST /api/chat/x/stop" in defect.value.request
    assert "Authorization" in defect.value.reason


async def test_a_connection_reset_is_a_violation_with_the_request(raw_server):
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.transport.abort()

    outgoing = await outgoing_to(await raw_server(reset))
    with pytest.raises(ViolationError) as error:
        await outgoing.request("POST", "/api/chat/x/stop", headers={"x-api-key": "k"})
    [violation] = error.value.violations
    assert "server" in violation.message
    assert violation.request is not None and violation.request.startswith("curl ")
    assert "x-api-key: k" in violation.request


async def test_a_malformed_answer_is_a_violation(raw_server):
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        writer.close()

    outgoing = await outgoing_to(await raw_server(garbage))
    with pytest.raises(ViolationError) as error:
        await outgoing.request("GET", "/openapi.json")
    assert "broke HTTP" in error.value.violations[0].message


async def test_silence_is_a_violation_naming_the_timeout(raw_server):
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    outgoing = await outgoing_to(await raw_server(silent), timeout=0.3)
    with pytest.raises(ViolationError) as error:
        await outgoing.request("GET", "/openapi.json")
    assert "no answer within 0.3 s" in error.value.violations[0].message


async def test_a_body_cut_short_is_a_violation(raw_server):
    async def truncated(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{")
        await writer.drain()
        writer.close()

    outgoing = await outgoing_to(await raw_server(truncated))
    with pytest.raises(ViolationError):
        await outgoing.request("GET", "/openapi.json")
