"""The contract suite's reading of a stream: what breaks AI SDK v6 clients is found, and only that."""

from __future__ import annotations

from typing import Any

import pytest

from contract_judge.streams import ChunkSchema, StreamGrammar, open_tool_calls
from mock_server.domain.answers import agent_answer
from mock_server.domain.chunks import answer_chunks
from mock_server.http.spec import load_document

SCHEMA = ChunkSchema(load_document())


def problems(chunks: list[dict[str, Any]], *, from_start: bool = True) -> list[str]:
    grammar = StreamGrammar(from_start=from_start)
    return [p for c in chunks if (p := SCHEMA.problem(c) or grammar.feed(c))]


def test_every_chunk_of_the_mocks_answer_is_valid_and_in_order():
    assert problems(list(answer_chunks("m", agent_answer("hello")))) == []


@pytest.mark.parametrize(
    ("chunks", "fault"),
    [
        ([{"type": "text-delta", "id": "t", "delta": "a"}], "not started in this step"),
        (
            [{"type": "text-start", "id": "t"}, {"type": "finish-step"}, {"type": "text-end", "id": "t"}],
            "not started in this step",
        ),
        (
            [{"type": "reasoning-start", "id": "r"}, {"type": "text-delta", "id": "r", "delta": "a"}],
            "text part",
        ),
        (
            [{"type": "tool-input-delta", "toolCallId": "c", "inputTextDelta": "{"}],
            "before its `tool-input-start`",
        ),
        ([{"type": "tool-output-available", "toolCallId": "c", "output": 1}], "has not begun"),
        ([{"type": "abort", "reason": "user"}], "'reason' was unexpected"),
        ([{"type": "start", "title": "x"}], "'title' was unexpected"),
        ([{"type": "tool-output-error", "toolCallId": "c"}], "'errorText' is a required property"),
    ],
)
def test_what_a_v6_client_throws_on_is_a_problem(chunks: list[dict[str, Any]], fault: str):
    found = problems(chunks)
    assert found and fault in found[0], found


def test_a_tool_call_may_arrive_whole_without_streamed_input():
    chunks = [
        {"type": "tool-input-available", "toolCallId": "c", "toolName": "t", "input": {}},
        {"type": "tool-output-available", "toolCallId": "c", "output": None},
    ]
    assert problems(chunks) == []


def test_a_resumed_stream_is_not_blamed_for_starts_it_did_not_replay():
    assert problems([{"type": "text-delta", "id": "t", "delta": "a"}], from_start=False) == []
    assert problems([{"type": "text-delta", "id": "t"}], from_start=False) != [], (
        "its chunks are still checked"
    )


def test_what_a_client_tolerates_is_not_blamed():
    reasoning_and_text_with_one_id = [
        {"type": "reasoning-start", "id": "p"},
        {"type": "text-start", "id": "p"},
        {"type": "reasoning-delta", "id": "p", "delta": "a"},
        {"type": "text-delta", "id": "p", "delta": "b"},
    ]
    after_the_end = [{"type": "abort"}, {"type": "tool-output-error", "toolCallId": "c", "errorText": "x"}]
    assert problems(reasoning_and_text_with_one_id) == []
    assert problems([{"type": "tool-input-start", "toolCallId": "c", "toolName": "t"}, *after_the_end]) == []


def test_unfinished_tool_calls_are_those_begun_without_a_result():
    chunks = [
        {"type": "tool-input-start", "toolCallId": "a", "toolName": "t"},
        {"type": "tool-input-available", "toolCallId": "b", "toolName": "t", "input": {}},
        {"type": "tool-output-error", "toolCallId": "a", "errorText": "Cancelled"},
    ]
    assert open_tool_calls(chunks) == ["b"]


def test_nothing_follows_finish_and_nothing_new_begins_after_abort():
    started = [{"type": "start"}, {"type": "start-step"}, {"type": "text-start", "id": "t"}]
    assert problems([*started, {"type": "finish"}, {"type": "start-step"}]) == [
        "chunk 4: `start-step` after `finish`: nothing but `data: [DONE]` may follow it"
    ]
    assert problems([*started, {"type": "abort"}, {"type": "text-start", "id": "late"}]) == [
        "chunk 4: `text-start` after `abort`: a stopped answer only closes what it began"
    ]
    closed = [{"type": "abort"}, {"type": "text-end", "id": "t"}, {"type": "finish-step"}, {"type": "finish"}]
    assert problems([*started, *closed]) == []
