"""The contract's judge: what the contract suite and `recoup-mock proxy` both check an exchange with.

Given the served OpenAPI document, it judges a request, a response, or an event stream fed piece by
piece as it passes, and returns `Problem`s rather than raising: the suite turns them into failed
rules, the proxy into `sl-violations` headers, journal entries and a report. It imports neither
pytest nor Schemathesis nor any web framework.
"""

from contract_judge.bodies import error_body_problem, status_required
from contract_judge.conformance import Judge, StreamJudge
from contract_judge.exchange import Request, Response
from contract_judge.problems import Problem

__all__ = [
    "Judge",
    "Problem",
    "Request",
    "Response",
    "StreamJudge",
    "error_body_problem",
    "status_required",
]
