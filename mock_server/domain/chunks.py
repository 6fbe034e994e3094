"""The chunks of a Vercel AI SDK v6 "UI message stream": what a generation emits, as plain dicts.

How they travel (server-sent events ending with `[DONE]`) is the HTTP layer's business:
`mock_server.http.sse`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator

from mock_server.domain.models import Chunk

MAX_REPEATED_DELTAS = 20_000
"""Upper bound on an endless (repeating) answer, so a forgotten demo stream ends by itself."""


def words(text: str) -> list[str]:
    """Split `text` into deltas that concatenate back to it (each word with its trailing space)."""
    return re.findall(r"\S+\s*", text) or [text]


def text_answer(message_id: str, text: str, *, repeat: bool = False) -> Iterator[Chunk]:
    """The chunks of an assistant message made of one text part."""
    part_id = f"{message_id}-text"
    yield {"type": "start", "messageId": message_id}
    yield {"type": "start-step"}
    yield {"type": "text-start", "id": part_id}
    deltas: Iterable[str] = words(text)
    if repeat:
        deltas = itertools.islice(itertools.cycle(deltas), MAX_REPEATED_DELTAS)
    for delta in deltas:
        yield {"type": "text-delta", "id": part_id, "delta": delta}
    yield {"type": "text-end", "id": part_id}
    yield {"type": "finish-step"}
    yield {"type": "finish"}


def answer_length(text: str, *, repeat: bool = False) -> int:
    """How many chunks `text_answer` yields, without making them."""
    deltas = MAX_REPEATED_DELTAS if repeat else len(words(text))
    return deltas + 6


ABORT: Chunk = {"type": "abort"}


def error_chunk(text: str) -> Chunk:
    return {"type": "error", "errorText": text}


def text_of(chunks: list[Chunk]) -> str:
    return "".join(c["delta"] for c in chunks if c.get("type") == "text-delta")
