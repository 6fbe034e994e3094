"""What a run finds, as typed objects: violations of the contract, and defects of the suite itself.

A `Violation` is the server's fault: what the rule expected, the request as a curl line and what
came back. A `SuiteDefect` is the suite's own fault (a request it built that no client can send);
it never counts against the server, and ends the run with exit status 2. Rules raise
`ViolationError`; the report (`contract_tests.report`) reads the violations it carries.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx

_BODY_EXCERPT = 300


@dataclass(frozen=True)
class Violation:
    message: str
    """What the contract demands and what the server did instead."""
    request: str | None = None
    """The request that shows it, as a copy-pastable curl line."""
    response: str | None = None
    """What came back: status, content type and the start of the body."""
    timed_out: bool = False
    """The server made the rule wait out `--timeout` (or a stream's close): the rule fails at once
    in its further examples, so that shrinking the failure waits no more."""


class ViolationError(AssertionError):
    """Violations a rule found (an `AssertionError`, so pytest and Hypothesis see a failure)."""

    def __init__(self, *violations: Violation) -> None:
        self.violations = list(violations)
        super().__init__("\n".join(v.message for v in violations))


class SuiteDefect(Exception):
    """The suite built a request that cannot be sent as generated: its own fault, not the server's."""

    def __init__(self, request: str, reason: str) -> None:
        self.request = request
        self.reason = reason
        super().__init__(f"the suite built a request no HTTP client can send: {request}: {reason}")


def describe_response(response: httpx.Response) -> str:
    """`400 application/json: {"status": ...}` for a response whose body was read."""
    content_type = response.headers.get("content-type", "")
    try:
        body = response.text[:_BODY_EXCERPT]
    except httpx.ResponseNotRead:
        body = "(streamed)"
    return f"{response.status_code} {content_type}: {body}".rstrip(": ")


def violations_in(error: BaseException) -> Iterator[Violation | SuiteDefect]:
    """Every violation and suite defect an exception carries, groups and causes included."""
    if isinstance(error, ViolationError):
        yield from error.violations
    elif isinstance(error, SuiteDefect):
        yield error
    elif isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from violations_in(inner)
    elif isinstance(error, AssertionError):
        yield Violation(str(error) or "an assertion of the rule failed")
    elif error.__cause__ is not None and error.__cause__ is not error:
        yield from violations_in(error.__cause__)
    else:
        # Anything else escaped the suite's own code: a defect of the suite, never the server's fault.
        yield SuiteDefect("(unknown)", f"{type(error).__name__}: {error}")
