"""Serving an ASGI app with a real uvicorn on a free loopback port, inside the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn


@contextlib.asynccontextmanager
async def serving(app: Any, host: str = "127.0.0.1") -> AsyncIterator[int]:
    """Serve `app` on `host` while the block runs; yield the port.

    Each uvicorn server restores the signal handlers it found when it stops, so nested servers must
    stop in reverse order (as nested `async with` blocks do) to leave the process's handlers as
    they were: sse-starlette reads SIGTERM's handler to learn of a shutdown.
    """
    sock = socket.create_server((host, 0))
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
