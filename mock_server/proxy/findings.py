"""What the proxy saw: each exchange with the problems the judge found, a summary of them, and
the report CI reads (`--report`: JSON, or JUnit XML for a FILE ending in `.xml`). A request that
breaks the contract is the client's fault: it is listed, and fails no test case of the report.

Credentials never enter an exchange: the headers kept are redacted as the mock's journal redacts them.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import time
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from contract_judge import Problem
from mock_server.http.journal import REDACTED, REDACTED_HEADERS

log = logging.getLogger("recoup_mock.proxy")

MESSAGE_EXCERPT = 1000
"""Characters of a violation's message kept (one may quote a whole body)."""
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
FAILURE_LINES = 100
"""Violations a JUnit test case's failure text lists (an excerpt; the JSON report has them all)."""


@dataclass
class Exchange:
    id: int
    method: str
    path: str
    operation: str | None
    """The contract's path template of the operation, `None` when the contract has none."""
    request_headers: list[tuple[str, str]]
    started: float = field(default_factory=time.time)
    status: int | None = None
    stream: bool = False
    events: int = 0
    ended: float | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.method} {self.path} -> {self.status if self.status is not None else '...'}"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": datetime.fromtimestamp(self.started, UTC).isoformat(),
            "method": self.method,
            "path": self.path,
            "operation": self.operation,
            "requestHeaders": dict(self.request_headers),
            "status": self.status,
            "stream": self.stream,
            "events": self.events,
            "durationMs": round((self.ended - self.started) * 1000, 1) if self.ended else None,
            "violations": [p.as_json() for p in self.problems],
        }


def _shown(problem: Problem) -> Problem:
    """`problem` as it may be shown anywhere: its message cut to an excerpt, and the control
    characters a body may hold (which XML refuses and terminals obey) escaped."""
    message = problem.message
    if len(message) > MESSAGE_EXCERPT:
        message = message[:MESSAGE_EXCERPT] + f"… ({len(problem.message)} characters)"
    message = _CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", message)
    return replace(problem, message=message)


def redacted(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, REDACTED if k.lower() in REDACTED_HEADERS else v) for k, v in headers]


class Findings:
    """The exchanges of one proxy run (the latest `size` kept) and every violation's count."""

    def __init__(self, size: int, max_violations: int = 10_000) -> None:
        self.max_violations = max_violations
        """Violations listed (in the summary, and in each exchange); beyond, they are counted only."""
        self._exchanges: deque[Exchange] = deque(maxlen=size)
        self._ids = itertools.count(1)
        self.exchanges = 0
        self.counts: Counter[str] = Counter()
        self.violations: list[dict[str, Any]] = []
        self.dropped = 0
        self.errors: Counter[str] = Counter()
        """Problems of severity Error by side: `response` (the upstream's fault), `request` (the client's)."""
        self.operations: Counter[str] = Counter()
        self._failing: dict[str, list[str]] = {}
        self._failures: Counter[str] = Counter()

    def begin(
        self, method: str, path: str, operation: str | None, headers: list[tuple[str, str]]
    ) -> Exchange:
        exchange = Exchange(next(self._ids), method, path, operation, redacted(headers))
        self.exchanges += 1
        self._exchanges.append(exchange)
        return exchange

    def add(self, exchange: Exchange, problems: list[Problem]) -> None:
        """Problems found in `exchange`, each logged as a warning line as it is found."""
        for problem in map(_shown, problems):
            if len(exchange.problems) < self.max_violations:
                exchange.problems.append(problem)
            self.counts[problem.code] += 1
            log.warning("contract violation: %s: %s", exchange.label, problem)
            if len(self.violations) < self.max_violations:
                self.violations.append(
                    {"exchange": exchange.id, "request": exchange.label, **problem.as_json()}
                )
            else:
                self.dropped += 1
            if problem.severity != "Error":
                continue
            self.errors[problem.location[0]] += 1
            if problem.location[0] != "request":  # a client's bad request is no fault of the upstream
                failing = self._failing.setdefault(self._case(exchange), [])
                if len(failing) < FAILURE_LINES:
                    failing.append(f"{exchange.label}: {problem}")
                self._failures[self._case(exchange)] += 1

    def end(self, exchange: Exchange) -> None:
        exchange.ended = time.time()
        if (
            exchange.operation is not None
        ):  # each operation of the contract is a test case; unjudged paths none
            self.operations[self._case(exchange)] += 1

    @staticmethod
    def _case(exchange: Exchange) -> str:
        return f"{exchange.method} {exchange.operation or '(not judged)'}"

    def journal(self) -> list[dict[str, Any]]:
        return [exchange.as_json() for exchange in self._exchanges]

    def summary(self) -> dict[str, Any]:
        """`errors`: what the upstream did wrong; `requestErrors`: requests that broke the contract."""
        return {
            "exchanges": self.exchanges,
            "errors": sum(n for side, n in self.errors.items() if side != "request"),
            "requestErrors": self.errors["request"],
            "byCode": dict(sorted(self.counts.items())),
            "violations": self.violations,
            "notListed": self.dropped,
        }

    def write_report(self, path: Path, upstream: str) -> None:
        """The summary as JSON, or as JUnit XML (a test case per operation seen) for `*.xml`."""
        if path.suffix.lower() == ".xml":
            path.write_text(self._junit(upstream), encoding="utf-8")
        else:
            path.write_text(json.dumps({"upstream": upstream, **self.summary()}, indent=2) + "\n")

    def _junit(self, upstream: str) -> str:
        suite = ElementTree.Element(
            "testsuite",
            name=f"recoup-mock proxy of {upstream}",
            tests=str(len(self.operations)),
            failures=str(len(self._failing)),
            errors="0",
        )
        for case, seen in sorted(self.operations.items()):
            element = ElementTree.SubElement(suite, "testcase", classname="contract", name=case)
            failures = self._failing.get(case)
            if failures:
                count = self._failures[case]
                failure = ElementTree.SubElement(
                    element, "failure", message=f"{count} violation(s) in {seen} exchange(s)"
                )
                failure.text = "\n".join(failures)
        return ElementTree.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
