"""The proxy's own answers and its reading and writing of ASGI messages."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import Receive, Send

from contract_judge import Problem, Response
from mock_server.http.error_body import error_json

SL_VIOLATIONS_MAX = 8 * 1024
"""Longest `sl-violations` value, as Prism cuts it."""


class ClientGone(Exception):
    """The client left before its request's body had come whole: nothing is forwarded."""


def error(status: int, message: str, headers: list[tuple[str, str]] | None = None) -> Response:
    body = error_json(message)
    fields = [("content-type", "application/json"), ("content-length", str(len(body))), *(headers or [])]
    return Response(status, tuple(fields), body)


def sl_violations(problems: list[Problem]) -> str:
    """Prism's header: the problems as a JSON array, cut to whole items under its length."""
    items: list[dict[str, Any]] = []
    for problem in problems:
        text = json.dumps([*items, problem.as_json()])
        if len(text) > SL_VIOLATIONS_MAX:
            break
        items.append(problem.as_json())
    return json.dumps(items)


def json_answer(data: Any) -> Response:
    body = json.dumps(data).encode()
    return Response(200, (("content-type", "application/json"), ("content-length", str(len(body)))), body)


def query_items(query: str) -> tuple[tuple[str, str], ...]:
    return tuple(parse_qsl(query, keep_blank_values=True))


def text_fields(fields: list[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    """Fields as the judge reads them (latin-1, which any bytes decode as)."""
    return tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in fields)


def raw_fields(fields: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1", "replace")) for k, v in fields]


async def start(send: Send, status: int, fields: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": fields})


async def answer(send: Send, response: Response) -> None:
    await start(send, response.status, raw_fields(list(response.headers)))
    await send({"type": "http.response.body", "body": response.body})


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The request's body, or None when it is longer than `limit` (0: no bound); `ClientGone`
    when the client leaves before its end."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        part = message.get("body", b"")
        size += len(part)
        if limit and size > limit:
            return None
        parts.append(part)
        if not message.get("more_body", False):
            return b"".join(parts)


async def disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
