"""One socket write per connection per turn of the event loop, instead of one per ASGI message.

uvicorn writes a response's head when the app sends `http.response.start` and its body when the
app sends `http.response.body`: two `send()` system calls for every plain answer, which cost the
mock about an eighth of its time under load, and one per chunk of a stream, however many chunks
are ready at once. `CoalescingTransport` stands between uvicorn's protocol and the socket's
transport: what is written in one turn of the loop goes out in one write at the end of it (at once
past `FLUSH_BYTES`, so a large body still meets the transport's flow control), and what is pending
is written before the connection closes or sends its EOF, and before the socket transport closes
itself on the client's EOF (the protocol's `eof_received`).
"""

from __future__ import annotations

import asyncio
from typing import Any

FLUSH_BYTES = 64 * 1024
"""Bytes pending that are written at once rather than at the end of the loop's turn."""


class CoalescingTransport:
    """`transport` whose writes of one loop turn reach the socket together."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._size = 0
        self._scheduled = False
        self._eof = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data or self._eof:
            return  # after `write_eof` nothing more may go (the socket transport would raise later)
        self._pending.append(bytes(data))
        self._size += len(data)
        if self._size >= FLUSH_BYTES:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        self._size = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._eof = True
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending.clear()
        self._size = 0
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._size + self._transport.get_write_buffer_size()

    def __getattr__(self, name: str) -> Any:
        # Everything else (reading, flow control, extra info) is the socket transport's own.
        return getattr(self._transport, name)
