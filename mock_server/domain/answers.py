"""Answers: what an assistant message is made of, as an agent's answer is (reasoning, tool calls,
text, `data-*` parts), the JSON form a seed file or the admin API scripts them in, and the mock's
default answer to a message.

An answer is a script, not chunks: `chunks.answer_steps` turns it into the AI SDK chunks a
generation streams, and the generation paces them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema

from mock_server.domain.recorded import RECORDED_SCHEMA, Recorded, recorded_json, recorded_of

MAX_PARTS = 100
"""Most parts one scripted answer may have."""
MAX_TOOL_SECONDS = 600.0
"""Longest a scripted tool call may run."""


@dataclass(frozen=True)
class Reasoning:
    text: str


@dataclass(frozen=True)
class Text:
    text: str
    repeat: bool = False
    """Cycle the text until the answer is stopped (up to `chunks.MAX_REPEATED_DELTAS` deltas)."""


@dataclass(frozen=True)
class ToolCall:
    name: str
    input: Any
    output: Any = None
    error: str | None = None
    """When set, the tool fails with this text (`tool-output-error`) instead of giving `output`."""
    seconds: float | None = None
    """How long the tool runs; None is the server's `--tool-seconds`."""


@dataclass(frozen=True)
class Data:
    name: str
    """The part's type is `data-{name}`."""
    data: Any


Part = Reasoning | Text | ToolCall | Data | Recorded
Answer = tuple[Part, ...]

# Built from pieces so that the admin API's spec and the seed file's schema say the same.
_TOOL_NAME = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_-]{0,63}$"}
PART_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {
            "type": "object",
            "required": ["type", "text"],
            "additionalProperties": False,
            "properties": {"type": {"const": "reasoning"}, "text": {"type": "string", "minLength": 1}},
        },
        {
            "type": "object",
            "required": ["type", "text"],
            "additionalProperties": False,
            "properties": {
                "type": {"const": "text"},
                "text": {"type": "string", "minLength": 1},
                "repeat": {"type": "boolean"},
            },
        },
        {
            "type": "object",
            "required": ["type", "name", "input"],
            "additionalProperties": False,
            "not": {"required": ["output", "error"]},
            "properties": {
                "type": {"const": "tool"},
                "name": _TOOL_NAME,
                "input": {},
                "output": {},
                "error": {"type": "string", "minLength": 1},
                "seconds": {"type": "number", "minimum": 0, "maximum": MAX_TOOL_SECONDS},
            },
        },
        {
            "type": "object",
            "required": ["type", "name", "data"],
            "additionalProperties": False,
            "properties": {
                "type": {"const": "data"},
                "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                "data": {},
            },
        },
        RECORDED_SCHEMA,
    ]
}
ANSWER_SCHEMA: dict[str, Any] = {"type": "array", "minItems": 1, "maxItems": MAX_PARTS, "items": PART_SCHEMA}


_KINDS = ("reasoning", "text", "tool", "data", "recorded")
"""The `type` of each of `PART_SCHEMA`'s branches, in their order."""


class AnswerError(ValueError):
    """A scripted answer that cannot be used; the message names the place of the fault."""


def answer_problems(data: Any, where: str = "$") -> Iterator[str]:
    """Why `data` is not a scripted answer, each reason naming its place (`$[2].seconds: ...`)."""
    validator = jsonschema.Draft202012Validator(ANSWER_SCHEMA)
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        place = where + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        yield f"{place}: {_reason(error)}"
    if not isinstance(data, list):
        return
    for index, part in enumerate(data):
        if not isinstance(part, dict):
            continue
        for key in ("input", "output", "data"):
            if key in part and not _is_json(part[key]):
                yield f"{where}[{index}].{key}: must be JSON data (no NaN, Infinity, dates or other objects)"
        seconds = part.get("seconds")
        if isinstance(seconds, float) and not math.isfinite(seconds):
            yield f"{where}[{index}].seconds: must be a finite number"
        if part.get("type") == "recorded" and len(data) > 1:
            yield f"{where}[{index}]: a recorded answer is a part alone (its replies answer one message each)"
        if part.get("repeat") and index != len(data) - 1:
            yield f"{where}[{index}].repeat: only the last part may repeat (nothing after it would stream)"


def _reason(error: jsonschema.ValidationError) -> str:
    if error.validator == "oneOf" and isinstance(error.instance, dict):
        kind = error.instance.get("type")
        if kind not in _KINDS:
            return f"type must be one of {', '.join(_KINDS)} (got {kind!r})"
        branch = _KINDS.index(kind)
        best = jsonschema.exceptions.best_match(e for e in error.context or [] if e.schema_path[0] == branch)
        if best is not None:
            inner = "".join(f".{p}" for p in best.relative_path)
            message = "has either output or error, not both" if best.validator == "not" else best.message
            return f"{kind} part{inner}: {message}"
    return str(error.message)


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def parse_answer(data: Any, where: str = "$") -> Answer:
    """The answer a JSON script describes; `AnswerError` naming the first fault otherwise."""
    for problem in answer_problems(data, where):
        raise AnswerError(problem)
    return stored_answer(data)


def stored_answer(data: list[dict[str, Any]]) -> Answer:
    """An answer read back from `answer_json`'s script, which was checked when it was first parsed."""
    return tuple(_part(entry) for entry in data)


def _part(entry: dict[str, Any]) -> Part:
    kind = entry["type"]
    if kind == "reasoning":
        return Reasoning(entry["text"])
    if kind == "text":
        return Text(entry["text"], repeat=entry.get("repeat", False))
    if kind == "recorded":
        return recorded_of(entry)
    if kind == "tool":
        return ToolCall(
            entry["name"], entry["input"], entry.get("output"), entry.get("error"), entry.get("seconds")
        )
    return Data(entry["name"], entry["data"])


def answer_json(answer: Answer) -> list[dict[str, Any]]:
    """The JSON script of `answer` (what `parse_answer` reads back)."""
    parts: list[dict[str, Any]] = []
    for part in answer:
        if isinstance(part, Reasoning):
            parts.append({"type": "reasoning", "text": part.text})
        elif isinstance(part, Text):
            parts.append({"type": "text", "text": part.text, **({"repeat": True} if part.repeat else {})})
        elif isinstance(part, ToolCall):
            tool: dict[str, Any] = {"type": "tool", "name": part.name, "input": part.input}
            tool.update({"error": part.error} if part.error is not None else {"output": part.output})
            if part.seconds is not None:
                tool["seconds"] = part.seconds
            parts.append(tool)
        elif isinstance(part, Recorded):
            parts.append(recorded_json(part))
        else:
            parts.append({"type": "data", "name": part.name, "data": part.data})
    return parts


def text_only(text: str, *, repeat: bool = False) -> Answer:
    return (Text(text, repeat=repeat),)


def agent_answer(prompt: str) -> Answer:
    """The mock's default answer to `prompt`: reasoning, a web search tool call, then a text long
    enough that there is time to press Stop at any point of it."""
    quoted = " ".join(prompt.split())[:120] or "(nothing)"
    query = quoted if quoted != "(nothing)" else "Recoup"
    return (
        Reasoning(
            f'The user wrote: "{quoted}". Before answering, I should look up what is current, '
            "then answer in a few short paragraphs that are easy to follow."
        ),
        ToolCall(
            "search_web",
            {"query": query, "limit": 3},
            {
                "results": [
                    {"title": f"{query}: an overview", "url": "https://example.com/overview"},
                    {"title": f"What changed for {query} this year", "url": "https://example.com/news"},
                    {"title": f"{query}, step by step", "url": "https://example.com/guide"},
                ]
            },
        ),
        Text(
            f'You said: "{quoted}". This answer comes from the Recoup mock. It streams the way an '
            "agent's answer does: first the model's reasoning, then a tool call whose input streams in, "
            "runs for a moment and returns its output, and then this text, a few words at a time. "
            "Press Stop at any point to see how the service ends a stream: a tool call that has not "
            "finished is cancelled with an error part, the text so far is kept in the chat's history, "
            "and the stop answers stopped true. Send another message afterwards and the chat answers "
            "again, since a stopped chat is idle. The search above found three pages; a real agent "
            "would summarise them here, quote what matters, and suggest what to do next. This text is "
            "long on purpose, so that a stop pressed while it streams always has something to cut off, "
            "and the tools of your frontend have time to show every state."
        ),
    )
