"""Connexion's request validation and the 3.1 contract give every request the same verdict.

Connexion 3.3 validates parameters and JSON bodies with draft-4 JSON Schema, on the 3.0 view of the
served documents (`connexion_view`); Schemathesis generates and judges requests with JSON Schema 2020-12
on the 3.1 documents. Wherever the two read a schema differently, a correct mock is blamed by the
contract suite, or accepts what the contract forbids. So both are handed the same requests, as bytes
on the wire: Schemathesis's own positive and negative cases, and mutations made keyword by keyword
from a valid request. The verdicts must agree.

The mock's verdict is Connexion's `RequestValidationOperation` (the code the app runs, with the app's
options), then the one check the service makes in Connexion's place: `format: uuid`, which Connexion's
draft-4 format checker does not know, so `require_uuid` answers 400 from the service
(`UUID_CHECKED_BY_THE_SERVICE`). The contract's verdict is `Draft202012Validator` on the 3.1 schema,
with `uuid` checked as RFC 9562 spells it (and as Schemathesis's validator checks it). Both, and the
requests, are built in `tests/alignment/`; what the comparison relies on in the schemas is checked in
`tests/test_schema_keywords.py`.

Known gaps, where the mock still reads the wire differently (in Connexion's query parsing, not in
the schemas), are what `known_gap` leaves out; `KNOWN_GAPS` shows each
is still open, so closing one turns its test red until it is removed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.alignment.comparison import disagreement, known_gap
from tests.alignment.contract import contract_verdict
from tests.alignment.keyword_requests import keyword_requests, valid_request
from tests.alignment.operations import OPERATION, WITH_INPUT
from tests.alignment.schemathesis_cases import SCHEMAS, wire_of
from tests.alignment.wire import Wire

ACCEPTS_ANY_INPUT = {"getChatRun"}
"""Operations whose every input is valid (a run id is any text): nothing for a verdict to refuse."""


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as runner:
        yield runner


@pytest.mark.parametrize("op", WITH_INPUT, ids=lambda op: op.operation_id)
def test_connexion_and_the_31_schema_agree_on_requests_made_keyword_by_keyword(op, runner):
    made = list(keyword_requests(op))
    assert all(contract_verdict(op, made[0]).values()), f"{op.label}: the request changed is not valid"
    verdicts, failures = [], []
    for wire in made:
        if known_gap(op, wire):
            continue
        verdicts.append(all(contract_verdict(op, wire).values()))
        if problem := disagreement(runner, op, wire):
            failures.append(problem)
    refusable = op.operation_id not in ACCEPTS_ANY_INPUT
    assert verdicts.count(True) >= 1 and (verdicts.count(False) >= 10 or not refusable), (
        "the requests made test too little"
    )
    assert not failures, f"{len(failures)} of {len(verdicts)} disagree:\n" + "\n".join(failures[:10])


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("op", WITH_INPUT, ids=lambda op: op.operation_id)
def test_connexion_and_the_31_schema_agree_on_schemathesis_cases(op, mode, runner):
    operation = SCHEMAS[op.document][op.path][op.method.upper()]
    failures: list[str] = []
    compared: list[Wire] = []

    @settings(
        max_examples=60,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def agree(case: Any) -> None:
        wire = wire_of(op, case)
        if wire is None or known_gap(op, wire):
            return
        compared.append(wire)
        if problem := disagreement(runner, op, wire):
            failures.append(problem)

    agree()
    assert len(compared) >= 10
    assert not failures, f"{len(failures)} disagree:\n" + "\n".join(failures[:10])


# The gaps the comparisons know of.

KNOWN_GAPS = [
    # Connexion reads the last of a repeated scalar query parameter; the contract sees two values.
    ("resumeChatStream", "query", "startIndex=1&startIndex=2"),
    # Connexion reads query integers with Python's int(); the contract reads JSON numbers.
    ("getJournal", "query", "limit=+5"),
    ("getJournal", "query", "limit=%205"),
    ("getJournal", "query", "limit=1_0"),
    ("getJournal", "query", "limit=007"),
    ("getJournal", "query", "limit=" + quote("٣")),
    ("getJournal", "query", "limit=1.0"),
]


@pytest.mark.parametrize(("operation_id", "part", "text"), KNOWN_GAPS)
def test_each_known_gap_is_still_open_and_is_all_the_comparisons_leave_out(operation_id, part, text, runner):
    op = OPERATION[operation_id]
    wire, _ = valid_request(op)
    if part == "query":
        wire = replace(wire, query=text)
    else:
        wire = replace(wire, path_params={**wire.path_params, part: text})
    assert known_gap(op, wire), "known_gap() would compare this request"
    assert disagreement(runner, op, wire), "the gap is closed: remove it from KNOWN_GAPS and known_gap()"
