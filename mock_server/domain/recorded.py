"""Recorded answers: what a real service streamed (each chunk with its delay after the one before,
as `recoup-mock proxy --record` saw it), replayed at its own pace.

A recorded answer is one part alone, `{"type": "recorded", "replies": [...]}`: its replies answer
the messages sent to the chat in order (the first message gets the first reply, and so on; once
they are used up, the last one is replayed again). A stop cuts a reply as it cuts any answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_RECORDED_CHUNKS = 20_000
"""Most chunks one recorded reply may have."""
MAX_RECORDED_DELAY = 600.0
"""Longest pause between two recorded chunks, in seconds."""

Reply = tuple[tuple[float, dict[str, Any]], ...]
"""The chunks of one reply, each with the seconds it came after the one before."""


@dataclass(frozen=True)
class Recorded:
    replies: tuple[Reply, ...]


RECORDED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "replies"],
    "additionalProperties": False,
    "properties": {
        "type": {"const": "recorded"},
        "replies": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_RECORDED_CHUNKS,
                "items": {
                    "type": "array",
                    "prefixItems": [
                        {"type": "number", "minimum": 0, "maximum": MAX_RECORDED_DELAY},
                        {
                            "type": "object",
                            "required": ["type"],
                            "properties": {"type": {"type": "string", "minLength": 1}},
                        },
                    ],
                    "minItems": 2,
                    "maxItems": 2,
                },
            },
        },
    },
}


def recorded_of(entry: dict[str, Any]) -> Recorded:
    return Recorded(tuple(tuple((float(d), dict(c)) for d, c in reply) for reply in entry["replies"]))


def recorded_json(part: Recorded) -> dict[str, Any]:
    return {
        "type": "recorded",
        "replies": [[[delay, chunk] for delay, chunk in reply] for reply in part.replies],
    }


def is_recorded(answer: tuple[Any, ...]) -> bool:
    return len(answer) == 1 and isinstance(answer[0], Recorded)


def reply_to(answer: tuple[Any, ...], index: int) -> tuple[Any, ...]:
    """The answer to the chat's `index`-th message (0 first): a recorded answer's reply of that
    rank (its last once they are used up), any other answer as it is."""
    if is_recorded(answer):
        replies = answer[0].replies
        return (Recorded((replies[min(index, len(replies) - 1)],)),)
    return answer
