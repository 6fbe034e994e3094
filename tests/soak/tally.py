"""The soak's tally: every request sent, by kind, every status seen, and what is wrong."""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field

from contract_judge.bodies import error_body_problem

DELIBERATE: frozenset[int] = frozenset()
"""5xx the server answers by design: none (every refusal of bad input is a 4xx)."""


@dataclass
class Tally:
    """Every request sent, by kind; every status seen; and what is wrong."""

    sent: collections.Counter[str] = field(default_factory=collections.Counter)
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    server_errors: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    """Hangs, dropped connections, wrong statuses where one is required: each fails the soak."""
    deliberate: list[str] = field(default_factory=list)
    """The 5xx the server answers by design (DELIBERATE), with the contract's body."""
    findings: list[str] = field(default_factory=list)
    """Worth a look, but no failure: a 4xx that is not the contract's body, a status not expected."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(
        self, kind: str, status: int | None, request: str, body: bytes = b"", content_type: str = ""
    ) -> None:
        with self.lock:
            self.statuses[f"{kind} {status if status is not None else 'no answer'}"] += 1
            if status in DELIBERATE and contract_error(body, content_type, status):
                self.deliberate.append(f"[{kind}] {status} {body[:120]!r}\n    request: {request}")
            elif status is not None and status >= 500:
                self.server_errors.append(f"[{kind}] {status} {body[:300]!r}\n    request: {request}")
            elif (
                status is not None
                and status >= 400
                and body
                and not contract_error(body, content_type, status)
            ):
                self.findings.append(
                    f"[{kind}] {status} is not the contract's error body: {content_type!r} {body[:160]!r}"
                    f"\n    request: {request}"
                )

    def count(self, kind: str, n: int = 1) -> None:
        with self.lock:
            self.sent[kind] += n

    def fail(self, text: str) -> None:
        with self.lock:
            self.failures.append(text)

    def note(self, text: str) -> None:
        with self.lock:
            self.findings.append(text)

    def report(self) -> str:
        lines = ["requests sent, by kind:"]
        lines += [f"  {n:6d}  {kind}" for kind, n in sorted(self.sent.items())]
        lines.append(f"  {sum(self.sent.values()):6d}  in all")
        lines.append("statuses seen (kind status: count):")
        lines += [f"  {n:6d}  {key}" for key, n in sorted(self.statuses.items())]
        lines.append(f"5xx: {len(self.server_errors)}")
        lines += [f"  {e}" for e in self.server_errors]
        lines.append(f"5xx by design: {len(self.deliberate)}")
        lines += [f"  {e}" for e in self.deliberate]
        lines.append(f"failures: {len(self.failures)}")
        lines += [f"  {f}" for f in self.failures]
        lines.append(f"findings: {len(self.findings)}")
        lines += [f"  {f}" for f in self.findings]
        return "\n".join(lines)


def contract_error(body: bytes, content_type: str, status: int) -> bool:
    """The contract's error body, as the suite judges it."""
    return error_body_problem(status, content_type, body) is None
