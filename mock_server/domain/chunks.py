"""The chunks of a Vercel AI SDK v6 "UI message stream": an answer as the chunks a generation
streams, each with the kind of wait before it, and chunks assembled back into a message's parts.

Every chunk carries only the fields `ai@6.0.0` defines: its chunk schemas are strict (an unknown
field makes the client throw), and later versions accept what it accepts. How chunks travel
(server-sent events ending with `[DONE]`) is the HTTP layer's business: `mock_server.http.sse`.
"""

from __future__ import annotations

import enum
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from mock_server.domain.answers import Answer, Data, Reasoning, Text, ToolCall
from mock_server.domain.jsontext import Structure
from mock_server.domain.models import DEFAULT_MODEL_ID, Chunk
from mock_server.domain.recorded import Recorded, Reply
from mock_server.domain.usage import Usage

MAX_REPEATED_DELTAS = 20_000
"""Upper bound on an endless (repeating) text, so a forgotten demo stream ends by itself."""
TOOL_INPUT_PIECE = 12
"""Characters of a tool call's JSON input per `tool-input-delta`, as models stream it in pieces."""
CANCELLED = "Cancelled"
"""The `errorText` the service gives a tool call that a stop cut short."""


class Wait(enum.Enum):
    """What comes before a chunk, as a model's stream would have it."""

    NONE = "none"
    """Structure (`start`, `text-end`, …): sent at once."""
    FIRST = "first"
    """The first content of a step: the model's time to first token."""
    TOKEN = "token"
    """One more token at the model's rate."""
    TOOL = "tool"
    """A tool's result: after the tool has run."""
    RECORDED = "recorded"
    """As long as the recorded stream waited before it (`Step.seconds`, at the replay speed)."""


@dataclass(frozen=True)
class Step:
    chunk: Chunk
    wait: Wait = Wait.NONE
    seconds: float | None = None
    """How long the tool runs, for `Wait.TOOL` (None: the server's default); the recorded pause,
    for `Wait.RECORDED`."""


def words(text: str) -> list[str]:
    """Split `text` into deltas that concatenate back to it (each word with its trailing space,
    leading space on its own)."""
    return re.findall(r"^\s+|\S+\s*", text) or [text]


def answer_steps(message_id: str, answer: Answer, model_id: str = DEFAULT_MODEL_ID) -> Iterator[Step]:
    """The chunks of `answer` as an agent streams it: a step ends after its tool calls' results,
    and each `finish-step` is followed by the turn's `message-metadata` (model, usage and cost
    so far), as the service's `messageMetadata` callback sends it."""
    if answer and isinstance(answer[0], Recorded):
        yield from _recorded_steps(message_id, answer[0].replies[0])
        return
    usage = Usage(model_id)
    yield Step({"type": "start", "messageId": message_id})
    yield Step({"type": "start-step"})
    lead = Wait.FIRST
    for index, part in enumerate(answer):
        part_id = f"{message_id}-{index}"
        if isinstance(part, Reasoning | Text):
            kind = "reasoning" if isinstance(part, Reasoning) else "text"
            deltas: Iterable[str] = words(part.text)
            if isinstance(part, Text) and part.repeat:
                deltas = itertools.islice(itertools.cycle(deltas), MAX_REPEATED_DELTAS)
            yield Step({"type": f"{kind}-start", "id": part_id}, lead)
            for delta in deltas:
                usage.token(reasoning=kind == "reasoning")
                yield Step({"type": f"{kind}-delta", "id": part_id, "delta": delta}, Wait.TOKEN)
            yield Step({"type": f"{kind}-end", "id": part_id})
        elif isinstance(part, ToolCall):
            for step in _tool_steps(f"call_{part_id}", part, lead):
                if step.chunk["type"] == "tool-input-delta":
                    usage.token()
                yield step
            if index < len(answer) - 1:
                yield Step({"type": "finish-step"})
                yield Step(usage.step_finished("tool-calls"))
                yield Step({"type": "start-step"})
                lead = Wait.FIRST
                continue
        elif isinstance(part, Data):
            yield Step({"type": f"data-{part.name}", "data": part.data}, lead)
        lead = Wait.NONE
    yield Step({"type": "finish-step"})
    last_is_tool = bool(answer) and isinstance(answer[-1], ToolCall)
    yield Step(usage.step_finished("tool-calls" if last_is_tool else "stop"))
    yield Step(FINISH)


def _recorded_steps(message_id: str, reply: Reply) -> Iterator[Step]:
    """A recorded reply as it came, its pauses kept; its message takes this answer's id."""
    for delay, chunk in reply:
        if chunk.get("type") == "start" and "messageId" in chunk:
            chunk = {**chunk, "messageId": message_id}
        yield Step(chunk, Wait.RECORDED if delay > 0 else Wait.NONE, delay)


def _tool_steps(call_id: str, tool: ToolCall, lead: Wait) -> Iterator[Step]:
    yield Step({"type": "tool-input-start", "toolCallId": call_id, "toolName": tool.name}, lead)
    text = json.dumps(tool.input, separators=(",", ":"))
    for start in range(0, len(text), TOOL_INPUT_PIECE):
        piece = text[start : start + TOOL_INPUT_PIECE]
        yield Step({"type": "tool-input-delta", "toolCallId": call_id, "inputTextDelta": piece}, Wait.TOKEN)
    yield Step(
        {"type": "tool-input-available", "toolCallId": call_id, "toolName": tool.name, "input": tool.input}
    )
    if tool.error is not None:
        result: Chunk = {"type": "tool-output-error", "toolCallId": call_id, "errorText": tool.error}
    else:
        result = {"type": "tool-output-available", "toolCallId": call_id, "output": tool.output}
    yield Step(result, Wait.TOOL, tool.seconds)


def answer_chunks(message_id: str, answer: Answer, model_id: str = DEFAULT_MODEL_ID) -> Iterator[Chunk]:
    """The chunks of `answer`, unpaced (an answer sent whole)."""
    return (step.chunk for step in answer_steps(message_id, answer, model_id))


def step_count(answer: Answer) -> int:
    """How many chunks `answer_steps` yields."""
    return sum(1 for _ in answer_steps("", answer))


def cancelled_tool(call_id: str) -> Chunk:
    return {"type": "tool-output-error", "toolCallId": call_id, "errorText": CANCELLED}


ABORT: Chunk = {"type": "abort"}
FINISH: Chunk = {"type": "finish"}
"""The one chunk that ends every turn the service's workflow body ends, a stopped or failed one
too (`app/lib/workflows/runAgentWorkflow.ts`, its `finally`): a transport that sees none
reconnects."""


def error_chunk(text: str) -> Chunk:
    return {"type": "error", "errorText": text}


@dataclass
class _OpenCall:
    tool_name: str
    input_available: bool


class OpenToolCalls:
    """The tool calls of a stream that have begun and have no result yet (a stop cancels them),
    tracked as the service's stream watcher does (`lib/chat/trackToolCallChunk.ts`)."""

    def __init__(self) -> None:
        self._open: dict[str, _OpenCall] = {}

    def saw(self, chunk: Chunk) -> None:
        kind = chunk.get("type")
        if kind in ("tool-input-start", "tool-input-available"):
            call_id = chunk["toolCallId"]
            self._open[call_id] = _OpenCall(str(chunk.get("toolName")), kind == "tool-input-available")
        elif kind in ("tool-output-available", "tool-output-error", "tool-output-denied", "tool-input-error"):
            self._open.pop(chunk.get("toolCallId", ""), None)

    def closing(self) -> Iterator[tuple[Chunk, bool]]:
        """The chunks that cancel every open call, each with whether it belongs in the saved
        message: a call whose input never completed first gets `tool-input-available` with the
        input `{}`, which moves a client's part on to where an error can land (only the stream
        carries it: the saved part keeps the input streamed so far)."""
        for call_id, call in list(self._open.items()):
            if not call.input_available:
                available = {
                    "type": "tool-input-available",
                    "toolCallId": call_id,
                    "toolName": call.tool_name,
                }
                yield {**available, "input": {}}, False
            yield cancelled_tool(call_id), True
        self._open.clear()


def assemble(chunks: Iterable[Chunk]) -> list[dict[str, Any]]:
    """The parts of the message `chunks` stream, as the AI SDK's client builds them
    (`step-start`, `reasoning`, `text`, `tool-{name}` with its state, `data-*`)."""
    parts: list[dict[str, Any]] = []
    by_id: dict[str, dict[str, Any]] = {}
    tool_text: dict[str, str] = {}
    for chunk in chunks:
        kind = str(chunk.get("type"))
        if kind == "start-step":
            parts.append({"type": "step-start"})
        elif kind in ("text-start", "reasoning-start"):
            part = {"type": kind.removesuffix("-start"), "text": "", "state": "streaming"}
            by_id[chunk["id"]] = part
            parts.append(part)
        elif kind in ("text-delta", "reasoning-delta") and chunk.get("id") in by_id:
            by_id[chunk["id"]]["text"] += chunk["delta"]
        elif kind in ("text-end", "reasoning-end") and chunk.get("id") in by_id:
            by_id[chunk["id"]]["state"] = "done"
        elif kind == "tool-input-start":
            call_id = chunk["toolCallId"]
            part = {"type": f"tool-{chunk['toolName']}", "toolCallId": call_id, "state": "input-streaming"}
            by_id[call_id], tool_text[call_id] = part, ""
            parts.append(part)
        elif kind.startswith("tool-") and chunk.get("toolCallId") in by_id:
            _update_tool(by_id[chunk["toolCallId"]], chunk, tool_text)
        elif kind.startswith("data-"):
            parts.append({"type": kind, "data": chunk.get("data")})
    return parts


def _update_tool(part: dict[str, Any], chunk: Chunk, tool_text: dict[str, str]) -> None:
    kind = chunk["type"]
    if kind == "tool-input-delta":
        tool_text[chunk["toolCallId"]] += chunk["inputTextDelta"]
    elif kind == "tool-input-available":
        part.update(state="input-available", input=chunk.get("input"))
    elif kind == "tool-output-available":
        part.update(state="output-available", output=chunk.get("output"))
    elif kind == "tool-output-error":
        if "input" not in part:
            partial = partial_json(tool_text.get(chunk["toolCallId"], ""))
            if partial is not _ABSENT:
                part["input"] = partial
        part.update(state="output-error", errorText=chunk.get("errorText"))


_ABSENT = object()


def partial_json(text: str) -> Any:
    """The value a JSON text cut short stands for, as the AI SDK reads a tool's streamed input:
    open strings, arrays and objects closed, an unfinished member dropped; `_ABSENT` for nothing."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    stack: list[str] = []
    cuts: list[tuple[int, str, bool]] = []  # where the text may be cut: (end, closers, in a string)
    structure = Structure(text)
    for index, char in structure:
        if char in "[{":
            stack.append("]" if char == "[" else "}")
            cuts.append((index + 1, "".join(reversed(stack)), False))
        elif char in "]}" and stack:
            stack.pop()
        elif char == ",":
            cuts.append((index, "".join(reversed(stack)), False))
    cuts.append((len(text), "".join(reversed(stack)), structure.ends_in_string))
    for end, closers, open_string in reversed(cuts):
        try:
            return json.loads(text[:end] + ('"' if open_string else "") + closers)
        except ValueError:
            continue
    return _ABSENT


def message_metadata(chunks: Iterable[Chunk]) -> dict[str, Any]:
    """The message's metadata as its `message-metadata` chunks leave it: the latest one's."""
    metadata: dict[str, Any] = {}
    for chunk in chunks:
        if chunk.get("type") == "message-metadata" and isinstance(chunk.get("messageMetadata"), dict):
            metadata = chunk["messageMetadata"]
    return metadata


def has_content(parts: list[dict[str, Any]]) -> bool:
    return any(part["type"] != "step-start" for part in parts)
