"""The human-readable contract report: each rule, whether it holds, and the request that broke it.

A rule is one test of the suite (for the Schemathesis test, one per operation). A violation shows
the failure and every request that reproduces it as a curl line. Keys of a remote target are shown
as the environment variables that hold them, so the report can be pasted into a CI log.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Generator
from dataclasses import dataclass, field

import pytest
from schemathesis.core.failures import FailureGroup

from contract_tests.suite import Suite
from contract_tests.target import ENV_API_KEY, ENV_OTHER_API_KEY

_CURL = re.compile(r"(curl\s.+)$")
_MAX_MESSAGE_LINES = 24
_HYPOTHESIS_NOTES = ("You can ", "Falsifying", "Failing", "(note:")


def describe(error: BaseException) -> str:
    """The message of a failure, with Hypothesis's notes (the falsifying example) and sub-failures."""
    if isinstance(error, FailureGroup):
        text = str(error)
    elif isinstance(error, BaseExceptionGroup):
        text = "\n".join(describe(e) for e in error.exceptions)
    else:
        text = str(error) if isinstance(error, AssertionError) else f"{type(error).__name__}: {error}"
    # Hypothesis's own notes repeat the arguments (the curl line already shows the request).
    notes = [note for note in getattr(error, "__notes__", []) if not note.startswith(_HYPOTHESIS_NOTES)]
    return "\n".join([text, *notes])


@dataclass
class Outcome:
    rule: str
    test: str
    status: str
    message: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


class ContractReport:
    """A pytest plugin that collects each rule's outcome and prints the report at the end."""

    def __init__(self, suite: Suite) -> None:
        self.suite = suite
        self.outcomes: dict[str, Outcome] = {}
        self._errors: dict[str, str] = {}

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if call.excinfo is not None and report.failed:
            self._errors[report.nodeid] = describe(call.excinfo.value)
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and report.passed:
            return
        test = report.nodeid.split("::")[-1]
        rule = test.split("[")[0]
        if report.failed:
            outcome = Outcome(rule, test, "violated")
            outcome.message, outcome.requests = self._explain(self._errors.get(report.nodeid, ""))
        elif report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            outcome = Outcome(rule, test, "not checked", [reason.removeprefix("Skipped: ")])
        else:
            outcome = Outcome(rule, test, "holds")
        previous = self.outcomes.get(test)
        if previous is None or previous.status == "holds":
            self.outcomes[test] = outcome

    def _explain(self, text: str) -> tuple[list[str], list[str]]:
        lines = [line.strip() for line in text.splitlines()]
        requests = list(dict.fromkeys(m.group(1) for line in lines if (m := _CURL.search(line))))
        message = [line for line in lines if line and not _CURL.search(line)]
        message = [line for line in dict.fromkeys(message) if line != "Reproduce with:"]
        return message[:_MAX_MESSAGE_LINES], [self._mask(r) for r in requests]

    def _mask(self, text: str) -> str:
        options = self.suite.options
        if options.in_process:
            return text
        for key, variable in ((options.key_a, ENV_API_KEY), (options.key_b, ENV_OTHER_API_KEY)):
            text = text.replace(shlex.quote(key), f'"${variable}"').replace(key, f"${{{variable}}}")
        return text

    @property
    def violated(self) -> list[Outcome]:
        return [o for o in self.outcomes.values() if o.status == "violated"]

    def render(self) -> str:
        suite = self.suite
        target = suite.target if suite._target is not None else None
        lines = [
            "",
            f"Recoup stop contract: {suite.options.describe()}",
            f"profile {suite.profile.name}, max examples {suite.profile.max_examples}, "
            f"seed {suite.effective_seed if suite.effective_seed is not None else 'random'}",
        ]
        if target is not None:
            lines.append(f"spec: {target.spec_source}")
            counts = ", ".join(f"{n} {what}" for what, n in sorted(target.counts.items()))
            lines.append(f"checked: {counts}")
        by_rule: dict[str, list[Outcome]] = {}
        for outcome in self.outcomes.values():
            by_rule.setdefault(outcome.rule, []).append(outcome)
        for rule, outcomes in by_rule.items():
            statuses = {o.status for o in outcomes}
            status = next(s for s in ("violated", "not checked", "holds") if s in statuses)
            lines.append(f"  {status.upper():<12} {rule}")
            for outcome in outcomes:
                if outcome.status == "holds":
                    continue
                if outcome.test != rule:
                    lines.append(f"      {outcome.test}")
                lines += [f"      {line}" for line in outcome.message]
                lines += [f"      $ {request}" for request in outcome.requests]
        violated = {o.rule for o in self.violated}
        if violated:
            lines.append(
                f"The contract does NOT hold: {len(violated)} rule(s) violated: {', '.join(sorted(violated))}"
            )
        else:
            lines.append("The contract holds.")
        return "\n".join(lines) + "\n"

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.outcomes:
            terminalreporter.write(self.render())
