"""What uvicorn writes in one turn of the event loop reaches the socket in one write, in order, and
nothing pending is lost when the connection closes."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx

from mock_server.http.coalescing import FLUSH_BYTES, CoalescingTransport
from tests.mock_process import mock_process


class Recording(asyncio.Transport):
    """A socket transport that records each write and what else is asked of it."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.calls: list[str] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.calls.append("close")
        self.closing = True

    def write_eof(self) -> None:
        self.calls.append("write_eof")

    def abort(self) -> None:
        self.calls.append("abort")
        self.closing = True

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        self.calls.append("pause_reading")


async def _turn() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_a_head_and_body_written_in_one_turn_are_one_write():
    socket_transport = Recording()
    transport = CoalescingTransport(socket_transport, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"{}")
    assert socket_transport.writes == []
    await _turn()
    assert socket_transport.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]


async def test_writes_of_different_turns_stay_apart_and_in_order():
    socket_transport = Recording()
    transport = CoalescingTransport(socket_transport, asyncio.get_running_loop())
    for event in (b"data: 1\n\n", b"data: 2\n\n"):
        transport.write(event)
        await _turn()
    assert socket_transport.writes == [b"data: 1\n\n", b"data: 2\n\n"]


async def test_a_large_body_is_written_at_once_for_flow_control():
    socket_transport = Recording()
    transport = CoalescingTransport(socket_transport, asyncio.get_running_loop())
    transport.write(b"x" * FLUSH_BYTES)
    assert socket_transport.writes == [b"x" * FLUSH_BYTES]


async def test_close_and_eof_write_what_is_pending_first():
    for ending in ("close", "write_eof"):
        socket_transport = Recording()
        transport = CoalescingTransport(socket_transport, asyncio.get_running_loop())
        transport.write(b"last words")
        getattr(transport, ending)()
        assert socket_transport.writes == [b"last words"]
        assert socket_transport.calls == [ending]
        await _turn()
        assert socket_transport.writes == [b"last words"], "written once"


async def test_abort_drops_what_is_pending_and_a_closed_socket_gets_no_write():
    socket_transport = Recording()
    transport = CoalescingTransport(socket_transport, asyncio.get_running_loop())
    transport.write(b"never")
    transport.abort()
    await _turn()
    assert socket_transport.writes == [] and socket_transport.calls == ["abort"]
    transport.write(b"after")
    await _turn()
    assert socket_transport.writes == []


async def test_everything_else_is_the_socket_transports_own():
    socket_transport = Recording()
    transport = CoalescingTransport(socket_transport, asyncio.get_running_loop())
    transport.pause_reading()
    assert socket_transport.calls == ["pause_reading"]
    assert transport.is_closing() is False


async def test_nothing_is_written_after_the_eof():
    socket_transport = Recording()
    transport = CoalescingTransport(socket_transport, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    transport.write_eof()
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # what uvicorn may still write after a refusal
    await _turn()
    assert socket_transport.writes == [b"HTTP/1.1 400 Bad Request\r\n\r\n"]


STOP_REQUEST = (
    b"POST /api/chat/11111111-1111-4111-8111-111111111111/stop HTTP/1.1\r\n"
    b"Host: 127.0.0.1\r\nx-api-key: demo-key-a\r\ncontent-length: 0\r\n\r\n"
)


def test_a_client_that_half_closes_after_its_request_still_gets_its_answer():
    # `nc -N` and some health checkers: a keep-alive request, then the client's FIN at once; the
    # socket transport closes itself on that EOF, and what the answer's turn wrote must go first.
    with mock_process() as served:
        answered = 0
        for attempt in range(60):
            with socket.create_connection(("127.0.0.1", served.port)) as client:
                client.sendall(STOP_REQUEST)
                if attempt % 3:
                    time.sleep(0.0002 * (attempt % 3))
                client.shutdown(socket.SHUT_WR)
                client.settimeout(5)
                received = b""
                while data := client.recv(65536):
                    received += data
            answered += received.startswith(b"HTTP/1.1 200 OK")
        assert answered == 60


def test_a_served_answer_arrives_in_one_segment():
    with mock_process() as served:
        with socket.create_connection(("127.0.0.1", served.port)) as client:
            client.sendall(STOP_REQUEST)
            client.settimeout(5)
            first = client.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 OK\r\n")
        assert first.endswith(b'{"success": true, "stopped": false}\n'), "head and body came together"
        assert httpx.get(f"{served.url}/openapi.json").status_code == 200
