"""The ceiling: a bare ASGI app answering every request with the stop's JSON, under the mock's server.

`python -m bench.ceiling SERVE-ARGS...` runs `recoup-mock serve SERVE-ARGS...` with the mock's app
swapped for this one, so the server, event loop, HTTP parser and their options are exactly the
mock's (whatever `mock_server.cli` chooses today). If the CLI no longer builds its app through
`create_app`, it falls back to plain uvicorn with the options the mock used when this was written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BODY = b'{"success":true,"stopped":false}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    """Answer every HTTP request with 200 and the idle stop's body; accept the lifespan."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:  # read the request body, as any real app does
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def _plain_uvicorn(argv: list[str]) -> int:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4010)
    args, _ = parser.parse_known_args(argv)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    return 0


def main(argv: list[str]) -> int:
    try:
        from mock_server import cli
    except ImportError:
        return _plain_uvicorn(argv)
    if not hasattr(cli, "create_app"):
        print("bench.ceiling: mock_server.cli has no create_app; using plain uvicorn", file=sys.stderr)
        return _plain_uvicorn(argv)
    vars(cli)["create_app"] = lambda *_args, **_kwargs: app
    result: int = cli.main(["serve", *argv])
    return result


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
