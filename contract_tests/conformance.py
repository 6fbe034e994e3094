"""Validation of real HTTP exchanges against the served OpenAPI document, with openapi-core.

This is independent of the server's own validation, so it judges any implementation.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict


@dataclass
class _Request:
    """An `httpx.Request` as openapi-core's `Request` protocol."""

    request: httpx.Request

    def __post_init__(self) -> None:
        url = self.request.url
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(url.params.multi_items())),
            header=Headers(list(self.request.headers.items())),
            cookie=ImmutableMultiDict(),
        )

    @property
    def host_url(self) -> str:
        return f"{self.request.url.scheme}://{self.request.url.netloc.decode()}"

    @property
    def path(self) -> str:
        return urlsplit(str(self.request.url)).path

    @property
    def method(self) -> str:
        return self.request.method.lower()

    @property
    def body(self) -> bytes | None:
        return self.request.content or None

    @property
    def content_type(self) -> str:
        return self.request.headers.get("content-type", "").lower()


@dataclass
class _Response:
    """A read `httpx.Response` as openapi-core's `Response` protocol."""

    response: httpx.Response

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def headers(self) -> Headers:
        return Headers(list(self.response.headers.items()))

    @property
    def content_type(self) -> str:
        return self.response.headers.get("content-type", "").lower()

    @property
    def data(self) -> bytes | None:
        return self.response.content or None


def _text(data: bytes, charset: str = "utf-8", **_parameters: str) -> str:
    return data.decode(charset)


class SpecConformance:
    """Checks that responses are documented by, and valid against, an OpenAPI document."""

    def __init__(self, document: dict[str, Any]) -> None:
        document = copy.deepcopy(document)
        # The document names the production host; a target may be anywhere.
        document["servers"] = [{"url": "/"}]
        # openapi-core has no deserializer for server-sent events; their body is text.
        config = Config(extra_media_type_deserializers={"text/event-stream": _text})
        self._openapi = OpenAPI.from_dict(document, config=config)

    def check(self, response: httpx.Response) -> None:
        """Raise `AssertionError` when `response` (already read) breaks the document."""
        request = _Request(response.request)
        try:
            self._openapi.validate_response(request, _Response(response))
        except Exception as exc:
            details = "; ".join(str(e) for e in getattr(exc, "schema_errors", [])) or str(exc)
            raise AssertionError(
                f"{response.request.method} {response.request.url.path} -> "
                f"{response.status_code}: response breaks the spec: {details}\n"
                f"body: {response.text[:500]}"
            ) from exc
