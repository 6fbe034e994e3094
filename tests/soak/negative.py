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
    import hypothesis
    import requests
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.config import SchemathesisConfig

    config = SchemathesisConfig.from_dict(
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
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=config)
    session = requests.Session()
    settings = hypothesis.settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
        print_blob=False,
    )
    for result in schema.get_all_operations():
        operation = result.ok()
        kind = f"schemathesis {operation.method.upper()} {operation.path}"

        def call(case: Any, variant: str, *, kind: str = kind, **kwargs: Any) -> None:
            tally.count(f"{kind} ({variant})")
            try:
                response = case.call(base_url=base_url, session=session, timeout=READ_TIMEOUT + 6, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                curl = case.as_curl_command()
                tally.fail(f"[{kind} ({variant})] no answer: {type(exc).__name__}: {exc}\n    {curl}")
                return
            except Exception as exc:  # the client refused to send it (an illegal header, say)
                tally.answer(f"{kind} ({variant})", None, "")
                tally.note(f"[{kind} ({variant})] not sendable by requests: {type(exc).__name__}")
                return
            tally.answer(
                f"{kind} ({variant})",
                response.status_code,
                case.as_curl_command(),
                response.content,
                (response.headers.get("content-type") or [""])[0],
            )

        sent: list[Any] = []

        @settings
        @hypothesis.given(operation.as_strategy(GenerationMode.NEGATIVE))
        def send(case: Any) -> None:
            # Past the time bound, an operation not reached yet still gets its first case: on a
            # busy machine every operation is soaked, if less deeply. (`send` runs in this
            # iteration of the loop, so `sent` is this operation's.)
            if stop() and sent:  # noqa: B023
                return
            sent.append(case)  # noqa: B023
            call(case, "as generated", headers={"x-api-key": KEY_A})
            if not _negative_beyond_headers(case):
                # Keyed, a case bad in its headers alone is a good request (a delete, a rename of a
                # chat whose ids Schemathesis drew from earlier answers): not this soak's.
                return
            case.headers = {
                k: v
                for k, v in (case.headers or {}).items()
                if k.lower() not in ("authorization", "x-api-key")
            }
            case.headers["x-api-key"] = KEY_A
            call(case, "keyed")

        send()
