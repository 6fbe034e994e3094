"""The HTTP server itself, run as `recoup-mock serve` in a second process and spoken to over raw
sockets: its shutdown ends open answer streams properly, slow clients are timed out, an oversized
head is refused, and every error the server answers itself is the contract's body."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.judging import assert_error_body
from tests.mock_process import Served, mock_process

KEY = "demo-key-a"
GENERATING = "22222222-2222-4222-8222-222222222222"
IGNORES_CANCEL = "55555555-5555-4555-8555-555555555504"
CANCEL_FAILS = "55555555-5555-4555-8555-555555555502"
IDLE = "11111111-1111-4111-8111-111111111111"
READ_TIMEOUT = 5.0


# Raw HTTP/1.1


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def response(self) -> Response:
        """The next whole response (a body by Content-Length, or chunked to its last chunk)."""
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
        status_line, *lines = head.decode("latin-1").split("\r\n")[:-2]
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        response = Response(int(status_line.split()[1]), headers)
        if headers.get("transfer-encoding") == "chunked":
            while await self._chunk(response):
                pass
        else:
            length = int(headers.get("content-length", "0"))
            response.body = await asyncio.wait_for(self.reader.readexactly(length), READ_TIMEOUT)
        return response

    async def start_stream(self) -> Response:
        """A streamed response's head; its chunks follow with `chunk`."""
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
        status = int(head.split(b" ", 2)[1])
        assert status == 200, head
        assert b"transfer-encoding: chunked" in head.lower()
        return Response(status, {})

    async def _chunk(self, response: Response) -> bool:
        """Read one chunk of a chunked body into `response`; False after the last (zero) chunk."""
        size_line = await asyncio.wait_for(self.reader.readuntil(b"\r\n"), READ_TIMEOUT)
        size = int(size_line.strip().split(b";")[0], 16)
        data = await asyncio.wait_for(self.reader.readexactly(size + 2), READ_TIMEOUT)
        assert data.endswith(b"\r\n")
        response.body += data[:-2]
        if size == 0:
            response.complete = True
        return size != 0

    async def events_until(self, response: Response, done: str) -> None:
        """Read chunks until an event whose chunk type is `done` has arrived."""
        while done not in [event.get("type") for event in response.events() if isinstance(event, dict)]:
            assert await self._chunk(response), "the stream ended early"

    async def stream_to_end(self, response: Response) -> Response:
        """The rest of a chunked stream; `complete` tells whether the last chunk arrived."""
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while await self._chunk(response):
                pass
        return response

    async def closed(self) -> bool:
        """True when the server closes the connection (without sending more) within the timeout."""
        return await asyncio.wait_for(self.reader.read(), READ_TIMEOUT) == b""

    def close(self) -> None:
        self.writer.close()


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    complete: bool = False

    def json(self) -> object:
        return json.loads(self.body)

    def events(self) -> list[object]:
        """Server-sent events' data: each a chunk, or the string `[DONE]`."""
        data = [line[6:] for line in self.body.decode().split("\n") if line.startswith("data: ")]
        return [item if item == "[DONE]" else json.loads(item) for item in data]


def request(method: str, path: str, body: object = None, **headers: str) -> bytes:
    payload = b"" if body is None else json.dumps(body).encode()
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"x-api-key: {KEY}"]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def assert_contract_error(response: Response, status: int) -> str:
    """The response is `status` with the contract's error body, closing the connection."""
    body = assert_error_body(
        response.status, response.headers["content-type"], response.body, expected=status
    )
    assert response.headers["connection"] == "close"
    assert int(response.headers["content-length"]) == len(response.body)
    assert body.keys() == {"status", "error"}, body
    text: str = body["error"]
    return text


# Graceful shutdown


@dataclass
class OpenStream:
    connection: Connection
    response: Response
    ignores_cancel: bool = False
    tool_running: bool = field(default=False)


async def resumed_stream(port: int, chat_id: str) -> OpenStream:
    connection = await Connection.open(port)
    await connection.send(request("GET", f"/api/chat/{chat_id}/stream"))
    response = await connection.start_stream()
    await connection.events_until(response, "start")
    return OpenStream(connection, response, ignores_cancel=chat_id == IGNORES_CANCEL)


async def new_answer_stream(port: int) -> OpenStream:
    connection = await Connection.open(port)
    await connection.send(request("POST", "/api/sessions", {}))
    session = (await connection.response()).json()
    assert isinstance(session, dict)
    message = {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}
    body = {"sessionId": session["session"]["id"], "chatId": session["chat"]["id"], "messages": [message]}
    await connection.send(request("POST", "/api/chat", body))
    response = await connection.start_stream()
    await connection.events_until(response, "tool-input-available")  # its tool call runs
    return OpenStream(connection, response, tool_running=True)


def assert_ended_by_shutdown(stream: OpenStream) -> None:
    response = stream.response
    assert response.complete, "the chunked transfer was cut before its last chunk"
    events = response.events()
    assert events[-2:] == [{"type": "finish"}, "[DONE]"], "a turn the shutdown ended still finishes"
    terminal = events[-3]
    if stream.ignores_cancel:
        assert terminal == {"type": "error", "errorText": "The server is shutting down"}
        return
    assert terminal == {"type": "abort"}
    chunks = [event for event in events[:-3] if isinstance(event, dict)]
    called = [c["toolCallId"] for c in chunks if c["type"] == "tool-input-start"]
    ended = {c["toolCallId"] for c in chunks if c["type"] in ("tool-output-available", "tool-output-error")}
    cancelled = [c["toolCallId"] for c in chunks if c.get("errorText") == "Cancelled"]
    assert set(called) == ended  # every tool call has a result, a cancelled one among them
    if stream.tool_running:
        assert cancelled == called[-1:]
        assert chunks[-1] == {"type": "tool-output-error", "toolCallId": called[-1], "errorText": "Cancelled"}


@pytest.mark.parametrize(
    ("stop_signal", "exit_code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)], ids=["SIGTERM", "Ctrl-C"]
)
async def test_sigterm_ends_every_open_stream_with_a_terminal_chunk(stop_signal: int, exit_code: int):
    with mock_process(
        "--first-token-delay", "0.05", "--tokens-per-second", "200", "--tool-seconds", "60"
    ) as served:
        streams = [
            await resumed_stream(served.port, chat) for chat in (GENERATING, IGNORES_CANCEL, CANCEL_FAILS)
        ]
        streams += await asyncio.gather(*(new_answer_stream(served.port) for _ in range(3)))
        signalled = time.monotonic()
        served.process.send_signal(stop_signal)
        await asyncio.gather(*(s.connection.stream_to_end(s.response) for s in streams))
        code = await asyncio.to_thread(served.process.wait, 5)
        took = time.monotonic() - signalled
        log = served.process.communicate()[1]
    assert code == exit_code
    assert took < 2, f"the server took {took:.2f} s to exit"
    for stream in streams:
        assert_ended_by_shutdown(stream)
    assert "Traceback" not in log and "Application shutdown complete" in log


async def test_a_second_ctrl_c_exits_at_once():
    # With 20 s to shut down, the answer that ignores the cancel would hold the first Ctrl-C for 5 s.
    with mock_process("--shutdown-timeout", "20") as served:
        stream = await resumed_stream(served.port, IGNORES_CANCEL)
        served.process.send_signal(signal.SIGINT)
        await asyncio.sleep(0.3)
        assert served.process.poll() is None
        served.process.send_signal(signal.SIGINT)
        code = await asyncio.to_thread(served.process.wait, 2)
        stream.connection.close()
    assert code == 130


# Slow clients, oversized heads, broken requests: one server with short timeouts


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    with mock_process(
        "--header-timeout", "0.5", "--body-timeout", "0.5", "--keep-alive-timeout", "0.5",
        "--max-header-bytes", "4096",
    ) as served:  # fmt: skip
        yield served


@pytest.fixture
async def connection(server: Served) -> Connection:
    connection = await Connection.open(server.port)
    yield connection  # type: ignore[misc]
    connection.close()


STOP_IDLE = request("POST", f"/api/chat/{IDLE}/stop")


async def test_a_half_sent_request_is_closed_after_the_header_timeout(connection: Connection):
    await connection.send(STOP_IDLE[:30])
    error = assert_contract_error(await connection.response(), 408)
    assert "headers" in error
    assert await connection.closed()


async def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(connection: Connection):
    assert await connection.closed()


async def test_the_header_timeout_runs_from_the_keep_alive_wait(connection: Connection):
    await connection.send(STOP_IDLE)
    assert (await connection.response()).json() == {"success": True, "stopped": False}
    await connection.send(STOP_IDLE[:30])
    assert_contract_error(await connection.response(), 408)
    assert await connection.closed()


async def test_an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout(connection: Connection):
    await connection.send(STOP_IDLE)
    assert (await connection.response()).status == 200
    assert await connection.closed()


async def test_a_request_sent_in_pieces_within_the_header_timeout_is_answered(connection: Connection):
    for start in range(0, len(STOP_IDLE), 40):
        await connection.send(STOP_IDLE[start : start + 40])
        await asyncio.sleep(0.05)
    assert (await connection.response()).json() == {"success": True, "stopped": False}


async def test_a_stalled_body_is_answered_408(connection: Connection):
    whole = request("POST", "/api/sessions", {"title": "a title that never arrives"})
    await connection.send(whole[:-10])
    error = assert_contract_error(await connection.response(), 408)
    assert "body" in error
    assert await connection.closed()


async def test_a_body_that_keeps_coming_is_read_whole(connection: Connection):
    whole = request("POST", "/api/sessions", {"title": "slow but steady"})
    head, body = whole.split(b"\r\n\r\n")
    await connection.send(head + b"\r\n\r\n")
    for byte in range(len(body)):  # longer than the body timeout in all, never a pause as long
        await connection.send(body[byte : byte + 1])
        await asyncio.sleep(0.05)
    response = await connection.response()
    assert response.status == 200, response
    assert response.json()["session"]["title"] == "slow but steady"  # type: ignore[index]


async def test_an_oversized_header_is_431(connection: Connection):
    await connection.send(request("POST", f"/api/chat/{IDLE}/stop", x_padding="a" * 5000))
    error = assert_contract_error(await connection.response(), 431)
    assert "4,096 bytes" in error
    assert await connection.closed()


async def test_a_header_that_never_ends_is_431_before_it_ends(connection: Connection):
    await connection.send(STOP_IDLE[:-4] + b"\r\nx-padding: " + b"a" * 100_000)
    assert_contract_error(await connection.response(), 431)
    assert await connection.closed()


async def test_headers_within_the_bound_are_served(connection: Connection):
    await connection.send(request("POST", f"/api/chat/{IDLE}/stop", x_padding="a" * 3000))
    assert (await connection.response()).json() == {"success": True, "stopped": False}


@pytest.mark.parametrize(
    ("data", "status", "says"),
    [
        (b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n", 400, "Unknown method BREW"),
        (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 400, "Malformed request line"),
        (b"GET\r\n\r\n", 400, "Malformed request line"),
        (b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400, "Malformed request line"),
        (b"GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n", 400, "Invalid request target"),
        (b"GET / HTTP/3.0\r\nHost: x\r\n\r\n", 400, "HTTP/1.0 and HTTP/1.1"),
        (b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400, "Invalid header"),
        (b"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n", 400, "Invalid header"),
        (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, "Invalid header"),
        (
            b"POST /api/sessions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            400,
            "Invalid chunked body",
        ),
    ],
    ids=[
        "unknown method",
        "TLS to the plain port",
        "method alone",
        "junk after the version",
        "control character in the target",
        "unknown version",
        "space in a header name",
        "control character in a header value",
        "two content lengths",
        "invalid chunk size",
    ],
)
async def test_an_unknown_method_gets_the_contracts_error_body(
    connection: Connection, data: bytes, status: int, says: str
):
    await connection.send(data)
    assert says in assert_contract_error(await connection.response(), status)
    assert await connection.closed()
