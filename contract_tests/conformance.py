"""The suite's use of the contract's judge (`contract_judge`): httpx exchanges judged against the
target's document, a problem raised as a failed assertion."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from contract_judge import Judge, Problem, Request, Response
from contract_tests.documents import bundled_document


def request_of(request: httpx.Request) -> Request:
    return Request(
        method=request.method,
        path=urlsplit(str(request.url)).path,
        query=tuple(request.url.params.multi_items()),
        headers=tuple(request.headers.items()),
        body=request.content,
    )


def response_of(response: httpx.Response) -> Response:
    """A read `response` as the judge sees it (its body decoded)."""
    return Response(response.status_code, tuple(response.headers.items()), response.content)


class SpecConformance:
    """Checks that responses are documented by, and valid against, an OpenAPI document; each
    stream's chunks against the suite's own copy of the chunk schema."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.judge = Judge(document, chunk_document=bundled_document())
        self.chunks = self.judge.chunks

    def check(self, response: httpx.Response) -> None:
        """Raise `AssertionError` when `response` (already read) breaks the document."""
        problems = self.judge.response(request_of(response.request), response_of(response))
        if problems:
            raise AssertionError(_message(response, problems[0]))


def _message(response: httpx.Response, problem: Problem) -> str:
    if problem.code in ("chunk", "order"):
        return f"the answer's stream breaks AI SDK v6 clients: {problem.message}"
    return (
        f"{response.request.method} {response.request.url.path} -> {response.status_code}: "
        f"response breaks the spec: {problem.message}\nbody: {response.text[:500]}"
    )
