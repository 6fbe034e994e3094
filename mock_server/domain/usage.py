"""What an answer's model used and cost, as the service reports it in `message-metadata` chunks
(`lib/agent/messageMetadata/buildMessageMetadataCallback.ts`): after each step's `finish-step`,
the model, the step's and the turn's usage (an AI SDK v6 `LanguageModelUsage`) and cost in USD,
and the steps' finish reasons.

A mock model has no tokenizer: each delta (text, reasoning, a tool's input piece) is one output
token, and a step's input is a fixed prompt plus everything the earlier steps said.
"""

from __future__ import annotations

from typing import Any

from mock_server.domain.models import Chunk

PROMPT_TOKENS = 1200
"""The input tokens of an answer's first step (system prompt, tools and the conversation)."""
USD_PER_INPUT_TOKEN = 3e-6
USD_PER_OUTPUT_TOKEN = 15e-6
"""What the mock's model costs per token, as a hosted model's price list has it."""


class Usage:
    """The running usage and cost of one answer, as `message-metadata` chunks report them
    (`lib/agent/messageMetadata/buildMessageMetadataCallback.ts` of the service)."""

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id
        self._input = PROMPT_TOKENS
        self._text = self._reasoning = 0
        self._total: dict[str, Any] | None = None
        self._total_cost = 0.0
        self._reasons: list[dict[str, str]] = []

    def token(self, *, reasoning: bool = False) -> None:
        if reasoning:
            self._reasoning += 1
        else:
            self._text += 1

    def step_finished(self, reason: str) -> Chunk:
        """The `message-metadata` chunk that follows a step's `finish-step`."""
        output = self._text + self._reasoning
        step = _usage(self._input, self._text, self._reasoning)
        self._total = step if self._total is None else _added(self._total, step)
        cost = round(self._input * USD_PER_INPUT_TOKEN + output * USD_PER_OUTPUT_TOKEN, 8)
        self._total_cost = round(self._total_cost + cost, 8)
        self._reasons.append({"finishReason": reason})
        self._input += output
        self._text = self._reasoning = 0
        metadata = {
            "selectedModelId": self.model_id,
            "modelId": self.model_id,
            "lastStepUsage": step,
            "totalMessageUsage": self._total,
            "lastStepCost": cost,
            "totalMessageCost": self._total_cost,
            "lastStepFinishReason": reason,
            "stepFinishReasons": list(self._reasons),
        }
        return {"type": "message-metadata", "messageMetadata": metadata}


def _usage(input_tokens: int, text: int, reasoning: int) -> dict[str, Any]:
    """An AI SDK v6 `LanguageModelUsage` (no prompt caching)."""
    return {
        "inputTokens": input_tokens,
        "inputTokenDetails": {"noCacheTokens": input_tokens, "cacheReadTokens": 0, "cacheWriteTokens": 0},
        "outputTokens": text + reasoning,
        "outputTokenDetails": {"textTokens": text, "reasoningTokens": reasoning},
        "totalTokens": input_tokens + text + reasoning,
    }


def _added(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {
        key: _added(value, b[key]) if isinstance(value, dict) else value + b[key] for key, value in a.items()
    }
