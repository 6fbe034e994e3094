"""Connexion's request validation with its per-operation parts built once, not on every request.

Connexion 3.3's `RequestValidationOperation.__call__` builds the operation's URI parser and
parameter validator, and reads the media type off the headers, for every request; these depend
only on the operation (and on the `Content-Type` value), so they are built at start-up here and the
media type of the few values a client sends is remembered. The steps, their order and their
refusals are Connexion's own; `tests/test_prepared.py` holds them to Connexion's.
"""

from __future__ import annotations

from typing import Any

from connexion.middleware.request_validation import (
    RequestValidationAPI,
    RequestValidationMiddleware,
    RequestValidationOperation,
)
from connexion.utils import is_nullable
from starlette.types import ASGIApp, Receive, Scope, Send

MEDIA_TYPES_KEPT = 64
"""`Content-Type` values whose media type an operation remembers (a client can send any value)."""


class PreparedValidationOperation(RequestValidationOperation):  # type: ignore[misc]
    """`RequestValidationOperation` with its parameter validator built once."""

    def __init__(self, next_app: ASGIApp, *, operation: Any, **options: Any) -> None:
        super().__init__(next_app, operation=operation, **options)
        uri_parser = operation._uri_parser_class(operation.parameters, operation.body_definition())
        self._parameter_validator = self._validator_map["parameter"](
            operation.parameters,
            uri_parser=uri_parser,
            strict_validation=self.strict_validation,
            security_query_params=self.security_query_params,
        )
        self._media_types: dict[bytes | None, tuple[str, str]] = {}

    def _media_type(self, headers: list[tuple[bytes, bytes]]) -> tuple[str, str]:
        # The first `Content-Type`, as `connexion.utils.extract_content_type` takes it.
        value = next((v for k, v in headers if k.lower() == b"content-type"), None)
        known = self._media_types.get(value)
        if known is None:
            known = self.extract_content_type(headers)
            if len(self._media_types) < MEDIA_TYPES_KEPT:
                self._media_types[value] = known
        return known

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Connexion's steps (`RequestValidationOperation.__call__`), with what is built once reused.
        self._parameter_validator.validate(scope)
        mime_type, encoding = self._media_type(scope["headers"])
        self.validate_mime_type(mime_type)
        operation = self._operation
        schema = operation.body_schema(mime_type)
        validator_class = self._validator_map["body"].get(mime_type) if schema else None
        if validator_class is not None:
            validator = validator_class(
                schema=schema,
                required=operation.request_body.get("required", False),
                nullable=is_nullable(operation.body_definition(mime_type)),
                encoding=encoding,
                strict_validation=self.strict_validation,
                uri_parser=operation.uri_parser_class(operation.parameters, operation.body_definition()),
            )
            receive, scope = await validator.wrap_receive(receive, scope=scope)
        await self.next_app(scope, receive, send)


class PreparedValidationAPI(RequestValidationAPI):  # type: ignore[misc]
    def make_operation(self, operation: Any) -> PreparedValidationOperation:
        return PreparedValidationOperation(
            self.next_app,
            operation=operation,
            strict_validation=self.strict_validation,
            validator_map=self.validator_map,
        )


class PreparedValidationMiddleware(RequestValidationMiddleware):  # type: ignore[misc]
    """Connexion's request validation middleware, over operations prepared once."""

    api_cls = PreparedValidationAPI
