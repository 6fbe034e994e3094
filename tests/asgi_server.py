"""Serving an ASGI app with a real uvicorn on a free loopback port, inside the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn


def listening_socket(host: str) -> socket.socket:
    """A TCP socket listening on a free port of `host`.

    Made with the protocol named (`IPPROTO_TCP`), as a server given a host and port makes its own:
    asyncio turns Nagle's algorithm off only on connections of such a socket, and without that a
    response written in two parts waits for the client's delayed ACK, some 40 ms a request.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen()
    return sock


@contextlib.asynccontextmanager
async def serving(app: Any, host: str = "127.0.0.1") -> AsyncIterator[int]:
    """Serve `app` on `host` while the block runs; yield the port.

    Each uvicorn server restores the signal handlers it found when it stops, so nested servers must
    stop in reverse order (as nested `async with` blocks do) to leave the process's handlers as
    they were: sse-starlette reads SIGTERM's handler to learn of a shutdown.
    """
    sock = listening_socket(host)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
