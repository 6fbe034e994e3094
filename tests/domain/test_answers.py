"""Scripted answers: their JSON form and its faults, the chunks they stream, their pacing, and the
message parts those chunks assemble into."""

from __future__ import annotations

from typing import Any

import pytest

from mock_server.domain.answers import (
    AnswerError,
    Data,
    Reasoning,
    Text,
    ToolCall,
    agent_answer,
    answer_json,
    parse_answer,
)
from mock_server.domain.chunks import Step, Wait, answer_chunks, answer_steps, assemble, cancelled_tool
from mock_server.domain.generation import Pacing

SCRIPT: list[dict[str, Any]] = [
    {"type": "reasoning", "text": "Think first."},
    {"type": "tool", "name": "lookup", "input": {"q": "x"}, "output": {"n": 1}, "seconds": 2},
    {"type": "tool", "name": "broken", "input": [], "error": "Rate limited"},
    {"type": "data", "name": "status", "data": {"ok": True}},
    {"type": "text", "text": "Done now.", "repeat": True},
]


def test_a_script_reads_into_parts_and_back():
    answer = parse_answer(SCRIPT)
    assert answer == (
        Reasoning("Think first."),
        ToolCall("lookup", {"q": "x"}, {"n": 1}, None, 2),
        ToolCall("broken", [], None, "Rate limited", None),
        Data("status", {"ok": True}),
        Text("Done now.", repeat=True),
    )
    assert answer_json(answer) == SCRIPT


@pytest.mark.parametrize(
    ("script", "fault"),
    [
        ([], "$: [] should be non-empty"),
        ("text", "$: 'text' is not of type 'array'"),
        ([{"type": "speech", "text": "hi"}], "$[0]: type must be one of reasoning, text, tool, data"),
        ([{"type": "text"}], "$[0]: text part: 'text' is a required property"),
        ([{"type": "tool", "name": "t", "input": {}, "seconds": -1}], "$[0]: tool part.seconds: -1 is less"),
        ([{"type": "tool", "name": "a b", "input": {}}], "$[0]: tool part.name: 'a b' does not match"),
        ([{"type": "tool", "name": "t", "input": {}, "output": 1, "error": "e"}], "$[0]: tool part"),
        ([{"type": "text", "text": "a", "colour": "red"}], "$[0]: text part: Additional properties"),
        ([{"type": "tool", "name": "t", "input": float("nan")}], "$[0].input: must be JSON"),
    ],
)
def test_a_faulty_script_is_refused_naming_the_place(script: Any, fault: str):
    with pytest.raises(AnswerError) as refused:
        parse_answer(script)
    assert str(refused.value).startswith(fault)


def test_an_answer_streams_its_parts_in_steps_ending_after_each_tool_result():
    types = [chunk["type"] for chunk in answer_chunks("m", parse_answer(SCRIPT[:4]))]
    structure = [t for t in types if not t.endswith("-delta")]
    assert structure == [
        "start",
        "start-step",
        "reasoning-start",
        "reasoning-end",
        "tool-input-start",
        "tool-input-available",
        "tool-output-available",
        "finish-step",
        "message-metadata",
        "start-step",
        "tool-input-start",
        "tool-input-available",
        "tool-output-error",
        "finish-step",
        "message-metadata",
        "start-step",
        "data-status",
        "finish-step",
        "message-metadata",
        "finish",
    ]


def test_tool_input_streams_in_pieces_that_make_its_json():
    chunks = list(answer_chunks("m", (ToolCall("t", {"query": "a long query text"}, 1),)))
    pieces = [c["inputTextDelta"] for c in chunks if c["type"] == "tool-input-delta"]
    assert len(pieces) > 1
    assert "".join(pieces) == '{"query":"a long query text"}'


def test_each_step_waits_as_a_model_does():
    steps = list(answer_steps("m", parse_answer(SCRIPT[:2])))
    waits = {step.chunk["type"]: step.wait for step in steps}
    assert waits["start"] is Wait.NONE and waits["start-step"] is Wait.NONE
    assert waits["reasoning-start"] is Wait.FIRST
    assert waits["reasoning-delta"] is Wait.TOKEN and waits["tool-input-delta"] is Wait.TOKEN
    assert waits["tool-output-available"] is Wait.TOOL
    pacing = Pacing(first_token=0.3, tokens_per_second=50, tool_seconds=1.5)
    delays = [pacing.delay(step) for step in steps]
    assert delays[:3] == [0.0, 0.0, 0.3]
    assert pacing.delay(Step({}, Wait.TOKEN)) == pytest.approx(0.02)
    assert pacing.delay(Step({}, Wait.TOOL, 2)) == 2 and pacing.delay(Step({}, Wait.TOOL)) == 1.5
    assert Pacing(0, 0, 0).delay(Step({}, Wait.TOKEN)) == 0


def test_parts_assemble_as_the_ai_sdk_client_builds_them():
    chunks = list(answer_chunks("m", (*parse_answer(SCRIPT[:4]), Text("Bye."))))
    parts = assemble(chunks)
    assert [p["type"] for p in parts] == [
        "step-start",
        "reasoning",
        "tool-lookup",
        "step-start",
        "tool-broken",
        "step-start",
        "data-status",
        "text",
    ]
    assert parts[1] == {"type": "reasoning", "text": "Think first.", "state": "done"}
    assert parts[2] == {
        "type": "tool-lookup",
        "toolCallId": parts[2]["toolCallId"],
        "state": "output-available",
        "input": {"q": "x"},
        "output": {"n": 1},
    }
    assert parts[4]["state"] == "output-error" and parts[4]["errorText"] == "Rate limited"
    assert parts[6] == {"type": "data-status", "data": {"ok": True}}


def test_a_tool_cancelled_while_its_input_streams_keeps_the_input_so_far():
    chunks = list(answer_chunks("m", (ToolCall("t", {"q": "x" * 30}, 1),)))
    start = next(i for i, c in enumerate(chunks) if c["type"] == "tool-input-start")
    cut = [*chunks[: start + 2], cancelled_tool(chunks[start]["toolCallId"])]
    [_, tool] = assemble(cut)
    assert tool["state"] == "output-error" and tool["errorText"] == "Cancelled"
    assert tool["input"] == {"q": "xxxxxx"}, "the input so far, read as the AI SDK reads partial JSON"


def test_the_default_answer_is_an_agents_and_quotes_the_message():
    answer = agent_answer("Which cities first?")
    assert [type(part) for part in answer] == [Reasoning, ToolCall, Text]
    assert "Which cities first?" in answer[2].text  # type: ignore[union-attr]
    assert len(answer[2].text.split()) > 100, "long enough to press Stop while it streams"  # type: ignore[union-attr]
