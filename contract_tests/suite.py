"""One run of the suite: the target, the profile (how hard to look) and the seed.

The pytest plugin (`contract_tests/conftest.py`) builds the run from its options before the test
modules are imported, because Schemathesis and Hypothesis fix their settings at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import hypothesis
from hypothesis import HealthCheck

from contract_tests.target import Target, TargetOptions

F = TypeVar("F", bound=Callable[..., Any])

# Seed of the default profile, so two CI runs of one commit check exactly the same cases.
DEFAULT_SEED = 20260824


@dataclass(frozen=True)
class Profile:
    name: str
    max_examples: int
    """Schemathesis cases per operation and phase, and Hypothesis examples per cheap property."""
    stateful: bool
    """Also run Schemathesis's stateful phase (sequences of calls that follow the spec's links)."""
    deterministic: bool

    def examples(self, cost: str) -> int:
        """Examples of a property: `cheap` (a few requests) or `generation` (starts answers)."""
        if cost == "generation":
            return max(5, self.max_examples // 2)
        return self.max_examples


PROFILES = {
    # Fast and reproducible: fixed seed, bounded examples, no stateful phase.
    "ci": Profile("ci", max_examples=10, stateful=False, deterministic=True),
    # Nightly fuzzing: many examples, every phase, random seed unless one is given.
    "deep": Profile("deep", max_examples=200, stateful=True, deterministic=False),
}


@dataclass
class Suite:
    options: TargetOptions
    profile: Profile
    seed: int | None
    shrink: bool = True
    """Shrink a failing example to a smaller one before reporting it (Hypothesis's shrink phase)."""
    _target: Target | None = field(default=None, repr=False)

    @property
    def target(self) -> Target:
        """The target, connected on first use (the first test that needs it)."""
        if self._target is None:
            self._target = Target(self.options).open()
        return self._target

    @property
    def opened_target(self) -> Target | None:
        """The target if a test has connected to it (the report must not connect just to print)."""
        return self._target

    def close(self) -> None:
        if self._target is not None:
            self._target.close()
            self._target = None

    @property
    def effective_seed(self) -> int | None:
        if self.seed is not None:
            return self.seed
        return DEFAULT_SEED if self.profile.deterministic else None

    @property
    def phases(self) -> tuple[hypothesis.Phase, ...]:
        """Hypothesis's phases of a property test: all of them, but shrinking (and explaining what
        was shrunk) when shrinking is off."""
        unshrunk = {hypothesis.Phase.shrink, hypothesis.Phase.explain}
        return tuple(p for p in hypothesis.Phase if self.shrink or p not in unshrunk)

    def property_test(self, cost: str = "cheap") -> Callable[[F], F]:
        """Hypothesis settings of a property test under this run's profile and seed."""
        settings = hypothesis.settings(
            max_examples=self.profile.examples(cost),
            phases=self.phases,
            deadline=None,
            database=None,
            derandomize=self.effective_seed is None and self.profile.deterministic,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
            print_blob=False,
        )

        def decorate(test: F) -> F:
            test = settings(test)
            if self.effective_seed is not None:
                test = hypothesis.seed(self.effective_seed)(test)
            return test

        return decorate


_CURRENT: Suite | None = None


def current() -> Suite:
    if _CURRENT is None:
        raise RuntimeError(
            "the contract suite runs under pytest with its plugin (contract_tests/conftest.py)"
        )
    return _CURRENT


def activate(suite: Suite | None) -> None:
    global _CURRENT
    if _CURRENT is not None and _CURRENT is not suite:
        _CURRENT.close()
    _CURRENT = suite
