"""The contract report: each rule, whether it holds, and the requests that broke it; JUnit XML for CI.

A rule is one test of the suite (for the Schemathesis test, one per operation). Its outcome is read
from the typed violations and suite defects its failure carries (`contract_tests.violations`),
never parsed back from text. A suite defect makes the run end with exit status 2 whatever else
happened. Keys of a remote target are shown as the environment variables that hold them, so the
report can be pasted into a CI log and each curl line still runs.
"""

from __future__ import annotations

import shlex
import xml.etree.ElementTree as ET
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from contract_tests.suite import Suite
from contract_tests.target import ENV_API_KEY, ENV_OTHER_API_KEY
from contract_tests.violations import SuiteDefect, Violation, violations_in

HOLDS, VIOLATED, NOT_CHECKED, DEFECT = "holds", "violated", "not checked", "suite defect"
_SEVERITY = (DEFECT, VIOLATED, NOT_CHECKED, HOLDS)
_MAX_VIOLATIONS = 8
_RULE = "_recoup_contract_rule"


@dataclass
class Outcome:
    rule: str
    status: str = HOLDS
    violations: list[Violation] = field(default_factory=list)
    defects: list[SuiteDefect] = field(default_factory=list)
    reason: str = ""

    def add(self, status: str) -> None:
        if _SEVERITY.index(status) < _SEVERITY.index(self.status):
            self.status = status


# What Hypothesis adds to an exception raised in one of its examples: about the test, not the server.
_HYPOTHESIS_NOTES = (
    "Failing explicit example",
    "Falsifying example",
    "Falsifying explicit example",
    "You can reproduce this example",
    "@reproduce_failure",
    "Explanation:",
    "Trying example",
    "while generating",
)


def without_hypothesis_notes(text: str) -> str:
    """`text` without the lines Hypothesis adds to it (the example's arguments, how to replay it)."""
    kept = [line for line in text.splitlines() if not line.strip().startswith(_HYPOTHESIS_NOTES)]
    return "\n".join(kept).strip()


def rule_of(test: str) -> str:
    """`test_foo` for `test_foo[...]`, but Schemathesis's tests keep their operation: `test_x[POST /a]`."""
    name, _, param = test.partition("[")
    return test if param.startswith(("GET ", "POST ", "PUT ", "DELETE ", "PATCH ")) else name


class ContractReport:
    """A pytest plugin that collects each rule's outcome, prints the report and writes JUnit XML."""

    def __init__(self, suite: Suite, junit_xml: str | None = None) -> None:
        self.suite = suite
        self.junit_xml = Path(junit_xml) if junit_xml else None
        self.outcomes: dict[str, Outcome] = {}
        self._pending: dict[str, list[Violation | SuiteDefect]] = {}

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        # Schemathesis's items share one node id, one per operation; their names tell them apart.
        rule = rule_of(item.name)
        setattr(report, _RULE, rule)
        if call.excinfo is not None and report.failed:
            self._pending.setdefault(rule, []).extend(violations_in(call.excinfo.value))
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        rule = getattr(report, _RULE, None) or rule_of(report.nodeid.split("::")[-1])
        outcome = self.outcomes.setdefault(rule, Outcome(rule))
        if report.failed:
            for found in self._pending.pop(rule, []) or [Violation(str(report.longrepr)[-500:])]:
                if isinstance(found, SuiteDefect):
                    outcome.add(DEFECT)
                    outcome.defects.append(found)
                else:
                    outcome.add(VIOLATED)
                    if found not in outcome.violations:
                        outcome.violations.append(found)
        elif report.skipped:
            outcome.add(NOT_CHECKED)
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            outcome.reason = without_hypothesis_notes(reason.removeprefix("Skipped: "))

    @property
    def defects(self) -> list[SuiteDefect]:
        return [d for o in self.outcomes.values() for d in o.defects]

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.defects:
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
        if self.junit_xml is not None:
            self.write_junit(self.junit_xml)

    def mask(self, text: str) -> str:
        """`text` with the remote target's keys as `"$VARIABLE"`, still a valid shell line."""
        options = self.suite.options
        if options.in_process:
            return text
        keys = ((options.key_a, ENV_API_KEY), (options.key_b, ENV_OTHER_API_KEY))
        if not any(key in text for key, _ in keys):
            return text
        try:
            words = shlex.split(text)
        except ValueError:
            return text
        masked = []
        for word in words:
            pieces = [shlex.quote(word)] if word else ["''"]
            for key, variable in keys:
                if key in word:
                    pieces = [
                        f'"${variable}"'.join(shlex.quote(part) if part else "" for part in word.split(key))
                    ]
            masked.append(pieces[0])
        return " ".join(masked)

    def lines(self, outcome: Outcome) -> list[str]:
        if outcome.status == NOT_CHECKED and not outcome.violations:
            return [outcome.reason] if outcome.reason else []
        found: list[str] = []
        for defect in outcome.defects:
            found += [f"suite defect: {defect.reason}", f"  request: {defect.request}"]
        # One entry per distinct failure, with the first request that showed it.
        distinct: dict[str, list[Violation]] = {}
        for violation in outcome.violations:
            distinct.setdefault(violation.message, []).append(violation)
        for message, same in list(distinct.items())[:_MAX_VIOLATIONS]:
            first = same[0]
            found += message.splitlines()
            if len(same) > 1:
                found.append(f"  ({len(same)} requests showed it; the first:)")
            if first.response:
                found.append(f"  got {self.mask(first.response)}")
            if first.request:
                found.append(f"  $ {self.mask(first.request)}")
        if len(distinct) > _MAX_VIOLATIONS:
            found.append(f"... and {len(distinct) - _MAX_VIOLATIONS} more distinct failures (-v shows all)")
        return found

    def render(self) -> str:
        suite = self.suite
        lines = [
            "",
            f"Recoup stop contract: {suite.options.describe()}",
            f"contract {suite.options.contract}, profile {suite.profile.name}, max examples "
            f"{suite.profile.max_examples}, seed "
            f"{suite.effective_seed if suite.effective_seed is not None else 'random'}, "
            f"timeout {suite.options.timeout:g} s",
        ]
        target = suite.opened_target
        if target is not None:
            lines.append(f"spec: {target.spec_source}")
            counts = ", ".join(f"{n} {what}" for what, n in sorted(target.counts.items()))
            lines.append(f"checked: {counts}")
        for outcome in self.outcomes.values():
            lines.append(f"  {outcome.status.upper():<12} {outcome.rule}")
            lines += [f"      {line}" for line in self.lines(outcome)]
        violated = sorted(o.rule for o in self.outcomes.values() if o.status == VIOLATED)
        if self.defects:
            lines.append(
                f"The suite itself failed ({len(self.defects)} request(s) it could not send); "
                "nothing here counts against the server. Exit status 2."
            )
        elif violated:
            lines.append(
                f"The contract does NOT hold: {len(violated)} rule(s) violated: {', '.join(violated)}"
            )
        else:
            lines.append("The contract holds.")
        return "\n".join(lines) + "\n"

    def write_junit(self, path: Path) -> None:
        """One test case per rule; a violated rule's failure carries its messages and curl lines."""
        cases = list(self.outcomes.values())
        suite = ET.Element(
            "testsuite",
            name="recoup-contract",
            tests=str(len(cases)),
            failures=str(sum(o.status == VIOLATED for o in cases)),
            errors=str(sum(o.status == DEFECT for o in cases)),
            skipped=str(sum(o.status == NOT_CHECKED for o in cases)),
        )
        for outcome in cases:
            case = ET.SubElement(suite, "testcase", classname="recoup-contract", name=outcome.rule)
            text = "\n".join(self.lines(outcome))
            if outcome.status in (VIOLATED, DEFECT):
                tag = "failure" if outcome.status == VIOLATED else "error"
                first = (outcome.violations or outcome.defects)[0]
                message = first.message if isinstance(first, Violation) else first.reason
                ET.SubElement(case, tag, message=message.splitlines()[0] if message else tag).text = text
            elif outcome.status == NOT_CHECKED:
                ET.SubElement(case, "skipped", message=outcome.reason)
        root = ET.Element("testsuites")
        root.append(suite)
        path.parent.mkdir(parents=True, exist_ok=True)
        ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.outcomes:
            terminalreporter.write(self.render())
