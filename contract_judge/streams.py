"""An AI SDK UI message stream as every v6 client reads it: each chunk valid against the contract's
`UIMessageChunk` schema (exactly the fields `ai@6.0.0` defines, since its schemas are strict), and
in an order the SDK's client can assemble.

The schema is the suite's own copy (the bundled contract's), not the target's: what `ai@6.0.0`
refuses is a fact about the client, whatever the target documents. The order rules are the ones
the client enforces by throwing (read from `processUIMessageStream` in the `ai` package): a delta
or end needs its part's start within the same step, a tool's input delta needs the tool's input
start, and a tool's result needs its tool part. Anything the client tolerates is not judged here.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import referencing
import referencing.jsonschema

from mock_server.http.spec import deref

CHUNK_SCHEMA = "UIMessageChunk"
CLOSING_CHUNKS = frozenset(
    {
        "abort",
        "tool-input-available",
        "tool-input-error",
        "tool-output-error",
        "text-end",
        "reasoning-end",
        "finish-step",
        "message-metadata",
        "error",
        "finish",
    }
)
"""What a stopped answer may still send: the closing of what it had begun (a tool call whose input
was cut short is given one, `{}`, before its error) and its end. Nothing new begins."""
_BASE = "urn:recoup-contract:document"


class ChunkSchema:
    """The document's `UIMessageChunk` schema, or nothing to check when the document has none.

    A chunk is judged against the branch its `type` names (the one `oneOf` branch that can hold
    it), which says the same as the whole `oneOf` at a twentieth of its cost: a proxy judges every
    chunk of every stream it passes."""

    def __init__(self, document: dict[str, Any]) -> None:
        schemas = document.get("components", {}).get("schemas", {})
        self.present = CHUNK_SCHEMA in schemas
        self._registry = registry_of(document)
        self._validator = self._validator_of({"$ref": f"{_BASE}#/components/schemas/{CHUNK_SCHEMA}"})
        self._branches: dict[str, jsonschema.Draft202012Validator] = {}
        branches = schemas.get(CHUNK_SCHEMA, {}).get("oneOf", [])
        kinds = [kind for branch in branches for kind in _types_of(document, branch)]
        for branch in branches:
            for kind in _types_of(document, branch):
                if kinds.count(kind) > 1:
                    continue  # a type two branches hold is judged by the whole `oneOf`, as it says
                self._branches[kind] = self._validator_of(anchored(branch))

    def _validator_of(self, schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
        return jsonschema.Draft202012Validator(schema, registry=self._registry)

    def problem(self, chunk: Any) -> str | None:
        if not self.present:
            return None
        branch = self._branches.get(str(chunk.get("type"))) if isinstance(chunk, dict) else None
        if branch is not None:
            error = jsonschema.exceptions.best_match(branch.iter_errors(chunk))
            if error is None:
                return None
            return f"{_excerpt(chunk)} is not a {CHUNK_SCHEMA} of the contract: {error.message}"
        # The top error, not `best_match`, which would descend into the closest-looking branch.
        error = next(iter(self._validator.iter_errors(chunk)), None)
        if error is None:
            return None
        return f"{_excerpt(chunk)} is not a {CHUNK_SCHEMA} of the contract: {_reason(chunk, error)}"


def registry_of(document: dict[str, Any]) -> referencing.Registry[Any]:
    """A registry holding `document`, which `anchored` schemas refer into."""
    resource: referencing.Resource[Any] = referencing.Resource.from_contents(
        document, default_specification=referencing.jsonschema.DRAFT202012
    )
    registry: referencing.Registry[Any] = referencing.Registry().with_resource(_BASE, resource)
    return registry


def anchored(schema: Any) -> Any:
    """`schema` (a part of a document) with its local `$ref`s pointing into `registry_of(document)`."""
    if isinstance(schema, dict):
        return {
            key: f"{_BASE}{value}"
            if key == "$ref" and isinstance(value, str) and value.startswith("#")
            else anchored(value)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [anchored(item) for item in schema]
    return schema


def _types_of(document: dict[str, Any], branch: dict[str, Any]) -> list[str]:
    """The `type` values a `oneOf` branch of chunks holds (its `type`'s `const` or `enum`)."""
    kind = deref(document, branch).get("properties", {}).get("type", {})
    if "const" in kind:
        return [str(kind["const"])]
    return [str(value) for value in kind.get("enum", [])]


def _reason(chunk: Any, error: jsonschema.ValidationError) -> str:
    """The fault as the branch for the chunk's `type` sees it, not as the closest-looking branch."""
    if not (isinstance(chunk, dict) and error.validator == "oneOf"):
        return error.message
    branches: dict[Any, list[jsonschema.ValidationError]] = {}
    for inner in error.context or []:
        branches.setdefault(inner.schema_path[0], []).append(inner)
    for errors in branches.values():
        if not any(list(e.relative_path)[:1] == ["type"] for e in errors):
            best = jsonschema.exceptions.best_match(errors)
            if best is not None:
                return str(best.message)
    return f"no chunk has the type {chunk.get('type')!r}"


def _excerpt(chunk: Any) -> str:
    text = json.dumps(chunk, separators=(",", ":"))
    return text if len(text) <= 200 else text[:200] + "…"


class StreamGrammar:
    """The order of a stream's chunks, fed one at a time; `from_start` is False for a stream resumed
    past its first chunk, whose earlier chunks (the parts' starts) were not seen."""

    def __init__(self, *, from_start: bool) -> None:
        self.from_start = from_start
        self._active: set[tuple[str, str]] = set()
        """Text and reasoning parts started in this step, as (`text` or `reasoning`, id): the
        client keeps the two kinds apart."""
        self._tool_inputs: set[str] = set()
        self._tools: set[str] = set()
        self._index = 0
        self._ended_by: str | None = None
        """`finish` or `abort` once the stream has said the answer is over."""

    def feed(self, chunk: dict[str, Any]) -> str | None:
        """Why `chunk` cannot come next, or None."""
        index, self._index = self._index, self._index + 1
        kind = str(chunk.get("type"))
        problem = self._after_the_end(kind)
        if problem is None and self.from_start:
            problem = self._order(kind, chunk)
        if kind in ("finish", "abort") and self._ended_by != "finish":
            self._ended_by = kind
        return f"chunk {index}: {problem}" if problem else None

    def _after_the_end(self, kind: str) -> str | None:
        """Nothing follows `finish` (but `data: [DONE]`, which is no chunk), and after `abort` only
        the closing of what was begun: a stopped answer ends with `abort` alone, or closes its tool
        calls and sends `finish` after it, as the service does (the abort comes from the model's
        stream, the closing from `runAgentWorkflow.ts` and the stream's watcher)."""
        if self._ended_by == "finish":
            return f"`{kind}` after `finish`: nothing but `data: [DONE]` may follow it"
        if self._ended_by == "abort" and kind not in CLOSING_CHUNKS:
            return f"`{kind}` after `abort`: a stopped answer only closes what it began"
        return None

    def _order(self, kind: str, chunk: dict[str, Any]) -> str | None:
        part_id = str(chunk.get("id"))
        call_id = str(chunk.get("toolCallId"))
        if kind == "finish-step":
            self._active.clear()
        elif kind in ("text-start", "reasoning-start"):
            self._active.add((kind.removesuffix("-start"), part_id))
        elif kind in ("text-delta", "text-end", "reasoning-delta", "reasoning-end"):
            part = kind.split("-")[0]
            if (part, part_id) not in self._active:
                return f"`{kind}` of {part} part {part_id!r}, which was not started in this step"
            if kind.endswith("-end"):
                self._active.discard((part, part_id))
        elif kind == "tool-input-start":
            self._tool_inputs.add(call_id)
            self._tools.add(call_id)
        elif kind == "tool-input-delta" and call_id not in self._tool_inputs:
            return f"`tool-input-delta` of tool call {call_id!r} before its `tool-input-start`"
        elif kind in ("tool-input-available", "tool-input-error"):
            self._tools.add(call_id)
        elif kind.startswith("tool-") and call_id not in self._tools:
            return f"`{kind}` of tool call {call_id!r}, which the stream has not begun"
        return None


def open_tool_calls(chunks: list[dict[str, Any]]) -> list[str]:
    """The tool calls of `chunks` that have begun and have no result."""
    begun: dict[str, None] = {}
    for chunk in chunks:
        kind = chunk.get("type")
        call_id = str(chunk.get("toolCallId"))
        if kind in ("tool-input-start", "tool-input-available", "tool-input-error"):
            begun[call_id] = None
        elif kind in ("tool-output-available", "tool-output-error", "tool-output-denied"):
            begun.pop(call_id, None)
    return list(begun)


def begun_tool_calls(chunks: list[dict[str, Any]]) -> list[str]:
    """The tool calls `chunks` begin, in order."""
    begun: dict[str, None] = {}
    for chunk in chunks:
        if chunk.get("type") in ("tool-input-start", "tool-input-available", "tool-input-error"):
            begun[str(chunk.get("toolCallId"))] = None
    return list(begun)
