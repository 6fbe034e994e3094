"""Schemathesis's negative data for every operation, sent by the soak in a thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.soak.raw import READ_TIMEOUT
from tests.soak.server import KEY_A
from tests.soak.tally import Tally


def _negative_beyond_headers(case: Any) -> bool:
    """Whether the case breaks the contract somewhere other than its headers."""
    components = getattr(case.meta, "components", None) if case.meta is not None else None
    if not components:
        return True  # nothing says where: keep it
    return any(
        str(getattr(location, "value", location)) != "header" and str(info.mode) == "negative"
        for location, info in components.items()
    )


def negative_soak(base_url: str, tally: Tally, *, examples: int, seed: int, stop: Callable[[], bool]) -> None:
    """Send Schemathesis's negative cases for every API operation, each twice: as generated, with
    `x-api-key: demo-key-a` added, and "keyed": its credential headers replaced by that key alone,
    so the rest of the case reaches the checks behind authentication. Runs in a thread."""
    import requests

    schema = _negative_schema(base_url, examples, seed)
    sender = _Sender(base_url, tally, requests.Session())
    for result in schema.get_all_operations():
        _soak_operation(result.ok(), sender, examples, stop)


def _negative_schema(base_url: str, examples: int, seed: int) -> Any:
    import schemathesis

    config = schemathesis.Config.from_dict(
        {
            "generation": {
                "mode": "negative",
                "max-examples": examples,
                "deterministic": True,
                "database": "none",
            },
            "seed": seed,
        }
    )
    return schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=config)


class _Sender:
    """Sends a case and tallies its answer, or that there was none."""

    def __init__(self, base_url: str, tally: Tally, session: Any) -> None:
        self.base_url = base_url
        self.tally = tally
        self.session = session

    def __call__(self, case: Any, kind: str, **kwargs: Any) -> None:
        import requests

        self.tally.count(kind)
        try:
            response = case.call(
                base_url=self.base_url, session=self.session, timeout=READ_TIMEOUT + 6, **kwargs
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            self.tally.fail(f"[{kind}] no answer: {type(exc).__name__}: {exc}\n    {case.as_curl_command()}")
            return
        except Exception as exc:  # the client refused to send it (an illegal header, say)
            self.tally.answer(kind, None, "")
            self.tally.note(f"[{kind}] not sendable by requests: {type(exc).__name__}")
            return
        content_type = (response.headers.get("content-type") or [""])[0]
        self.tally.answer(kind, response.status_code, case.as_curl_command(), response.content, content_type)


def _soak_operation(operation: Any, send: _Sender, examples: int, stop: Callable[[], bool]) -> None:
    import hypothesis
    from schemathesis import GenerationMode

    kind = f"schemathesis {operation.method.upper()} {operation.path}"
    sent: list[Any] = []

    @hypothesis.settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
        print_blob=False,
    )
    @hypothesis.given(operation.as_strategy(GenerationMode.NEGATIVE))
    def send_case(case: Any) -> None:
        # Past the time bound, an operation not reached yet still gets its first case: on a busy
        # machine every operation is soaked, if less deeply.
        if stop() and sent:
            return
        sent.append(case)
        send(case, f"{kind} (as generated)", headers={"x-api-key": KEY_A})
        if not _negative_beyond_headers(case):
            # Keyed, a case bad in its headers alone is a good request (a delete, a rename of a
            # chat whose ids Schemathesis drew from earlier answers): not this soak's.
            return
        headers = {
            k: v for k, v in (case.headers or {}).items() if k.lower() not in ("authorization", "x-api-key")
        }
        case.headers = {**headers, "x-api-key": KEY_A}
        send(case, f"{kind} (keyed)")

    send_case()
