"""The two verdicts side by side: where they disagree, and which requests a known gap leaves out.

A known gap is where the mock still reads the wire differently from the contract (in Connexion's query
parsing, not in the schemas).
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.alignment.contract import contract_reading, contract_verdict
from tests.alignment.mock import mock_refusal
from tests.alignment.operations import Operation
from tests.alignment.wire import Wire


def known_gap(op: Operation, wire: Wire) -> str | None:
    query = wire.query_values()
    for (location, name), _ in op.parameters.items():
        schema = op.parameter(location, name)["schema"]
        values = query.get(name, []) if location == "query" else [wire.path_params[name]]
        if len(values) > 1:
            return "Connexion reads the last of a repeated scalar query parameter"
        if values and schema.get("type") == "integer":
            text = values[0]
            try:
                connexion_reads: Any = int(text)
            except ValueError:
                connexion_reads = text
            if connexion_reads != contract_reading(text, schema):
                return "Connexion reads query integers with Python's int(), not as JSON numbers"
    return None


def disagreement(runner: asyncio.Runner, op: Operation, wire: Wire) -> str | None:
    contract = contract_verdict(op, wire)
    refusal = mock_refusal(runner, op, wire)
    if all(contract.values()) == (refusal is None):
        return None
    return f"{op.label}: {wire.describe()}\n  contract: {contract}\n  mock: {refusal or 'accepted'}"
