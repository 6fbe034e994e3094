"""An httpx transport that calls an ASGI app in-process and streams its response as it is sent.

`httpx.ASGITransport` waits for the whole response before returning it, so a client can neither
read a server-sent event stream while it runs nor stop it mid-way. This transport runs the app as a
task and hands each body message to the reader when the app sends it; closing the response early
tells the app the client went away (`http.disconnect`), as a closed socket would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.types import ASGIApp, Message

_END = b""


class _StreamedBody(httpx.AsyncByteStream):
    def __init__(
        self, chunks: asyncio.Queue[bytes | None], task: asyncio.Task[None], gone: asyncio.Event
    ) -> None:
        self._chunks = chunks
        self._task = task
        self._gone = gone

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self._chunks.get()) is not None:
            if chunk:
                yield chunk
        # The app finished its response; surface a crash after it, as a broken connection would.
        await self._task

    async def aclose(self) -> None:
        self._gone.set()
        if not self._task.done():
            # An app that ignores the disconnect (an endless stream) must not outlive its client.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), 1.0)
            if not self._task.done():
                self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task


class StreamingASGITransport(httpx.AsyncBaseTransport):
    """Serve httpx requests from `app` on the running event loop, streaming the responses."""

    def __init__(self, app: ASGIApp, client: tuple[str, int] = ("127.0.0.1", 50000)) -> None:
        self.app = app
        self.client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        url = request.url
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "scheme": url.scheme,
            "path": url.path,
            "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query,
            "server": (url.host, url.port or {"http": 80, "https": 443}[url.scheme]),
            "client": self.client,
            "root_path": "",
        }
        chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        started: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        gone = asyncio.Event()
        request_read = False

        async def receive() -> Message:
            nonlocal request_read
            if not request_read:
                request_read = True
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.set_result(message)
            elif message["type"] == "http.response.body":
                await chunks.put(message.get("body", _END))
                if not message.get("more_body", False):
                    await chunks.put(None)

        async def run() -> None:
            try:
                await self.app(scope, receive, send)
            finally:
                # A response that never ended (or never started) still ends its reader.
                await chunks.put(None)

        task = asyncio.create_task(run())
        waiting: set[asyncio.Future[Any]] = {task, started}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if not started.done():
            task.result()  # the app's own exception, if it raised one
            raise RuntimeError("the ASGI app ended without starting a response")
        start = started.result()
        return httpx.Response(
            status_code=start["status"],
            headers=[(k, v) for k, v in start.get("headers", [])],
            stream=_StreamedBody(chunks, task, gone),
            request=request,
        )
