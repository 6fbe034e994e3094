"""Connexion's layers with their per-operation work done once, at start-up, instead of per request.

Connexion stays the spec-driven router, security and validation layer; these are its documented
extension points (the middleware list, `validator_map`, `security_map`, the app's API class), each
given a class that builds once what Connexion 3.3 rebuilds on every request: the decorated handler
(and the signature inspection inside it), the security function's signature check, and the JSON body
validator. Behaviour is Connexion's own; only when the work happens changes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from connexion.apps.asynchronous import AsyncApi, AsyncASGIApp, AsyncOperation
from connexion.decorators import StarletteDecorator
from connexion.middleware.context import ContextMiddleware
from connexion.middleware.exceptions import ExceptionMiddleware
from connexion.middleware.lifespan import LifespanMiddleware
from connexion.middleware.request_validation import RequestValidationMiddleware
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.security import SecurityMiddleware
from connexion.middleware.server_error import ServerErrorMiddleware
from connexion.security import SECURITY_HANDLERS
from connexion.utils import inspect_function_arguments, is_null, is_nullable
from connexion.validators import VALIDATOR_MAP, JSONRequestBodyValidator, ParameterValidator
from connexion.validators.json import Draft4RequestValidator, Draft4Validator
from jsonschema import ValidationError
from starlette.types import Receive, Scope, Send

MIDDLEWARES = [
    ServerErrorMiddleware,
    ExceptionMiddleware,
    RoutingMiddleware,
    SecurityMiddleware,
    RequestValidationMiddleware,
    LifespanMiddleware,
    ContextMiddleware,
]
"""Connexion's default list without Swagger UI (the mock serves Swagger UI 5 itself) and without
response validation (off in the mock; the contract suite validates responses from outside)."""


class PreparedOperation(AsyncOperation):  # type: ignore[misc]
    """An operation whose decorated handler (and URI parser) is built on first use and kept.

    Connexion's `StarletteDecorator` decorates the handler again inside every call; this does the
    same steps, `decorate` once and `get_request` per call, with the decorator's own public methods.
    """

    @functools.cached_property
    def _prepared(self) -> tuple[StarletteDecorator, Callable[..., Any], Any]:
        decorator = StarletteDecorator(pythonic_params=self.pythonic_params, jsonifier=self.jsonifier)
        return decorator, decorator.decorate(self._fn), decorator.uri_parser

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        decorator, handler, uri_parser = self._prepared
        request = decorator.framework.get_request(uri_parser=uri_parser, scope=scope, receive=receive)
        response = await handler(request)
        return await response(scope, receive, send)


class PreparedApi(AsyncApi):  # type: ignore[misc]
    def make_operation(self, operation: Any) -> PreparedOperation:
        prepared: PreparedOperation = PreparedOperation.from_operation(
            operation, pythonic_params=self.pythonic_params, jsonifier=self.jsonifier
        )
        return prepared


def use_prepared_operations(app: AsyncASGIApp) -> None:
    """Make every API added to Connexion's inner app from now on build its handlers once.

    `AsyncApp` creates that inner app itself and has no argument for its API class, so the class is
    set on the instance; `tests/test_prepared.py` fails if a Connexion upgrade stops honouring it.
    """
    app.api_cls = PreparedApi


@functools.cache
def _accepts_kwarg(func: Callable[..., Any], keyword: str) -> bool:
    arguments, has_kwargs = inspect_function_arguments(func)
    return has_kwargs or keyword in arguments


def _inspect_once(handler: type) -> type:
    """`handler` with its security function's signature inspected once per function."""
    return type(handler.__name__, (handler,), {"_accepts_kwarg": staticmethod(_accepts_kwarg)})


SECURITY_MAP = {kind: _inspect_once(handler) for kind, handler in SECURITY_HANDLERS.items()}


# Connexion hands the validator the operation's own schema object on every request, so its identity
# names the schema; the schema is kept with its validator so the identity cannot be reused.
_DRAFT4_VALIDATORS: dict[int, tuple[dict[str, Any], Any]] = {}


class PreparedJSONBodyValidator(JSONRequestBodyValidator):  # type: ignore[misc]
    """Connexion's JSON body validator, with the draft-4 validator of each schema built once."""

    @property
    def _validator(self) -> Any:
        schema = self._schema
        cached = _DRAFT4_VALIDATORS.get(id(schema))
        if cached is None or cached[0] is not schema:
            cached = (schema, Draft4RequestValidator(schema, format_checker=Draft4Validator.FORMAT_CHECKER))
            _DRAFT4_VALIDATORS[id(schema)] = cached
        return cached[1]


# Parameter definitions are the operation's own objects on every request, as body schemas are.
_PARAMETER_VALIDATORS: dict[int, tuple[dict[str, Any], Any]] = {}


def _parameter_validator(param: dict[str, Any]) -> Any:
    cached = _PARAMETER_VALIDATORS.get(id(param))
    if cached is None or cached[0] is not param:
        schema = param.get("schema", param)
        cached = (param, Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER))
        _PARAMETER_VALIDATORS[id(param)] = cached
    return cached[1]


class PreparedParameterValidator(ParameterValidator):  # type: ignore[misc]
    """Connexion's parameter validator, with each parameter's draft-4 validator built once.

    The same steps and messages as `ParameterValidator.validate_parameter`, which copies the
    definition and builds a validator for every value it checks.
    """

    @staticmethod
    def validate_parameter(
        parameter_type: str, value: Any, param: dict[str, Any], param_name: str | None = None
    ) -> str | None:
        if is_nullable(param) and is_null(value):
            return None
        if value is not None:
            try:
                _parameter_validator(param).validate(value)
            except ValidationError as exception:
                return str(exception)
            return None
        if param.get("required"):
            return f"Missing {parameter_type} parameter '{param['name']}'"
        return None


def _validator_map() -> dict[str, Any]:
    validators = dict(VALIDATOR_MAP)
    validators["parameter"] = PreparedParameterValidator
    body = type(VALIDATOR_MAP["body"])(VALIDATOR_MAP["body"])
    for media_type, validator in list(body.items()):
        if validator is JSONRequestBodyValidator:
            body[media_type] = PreparedJSONBodyValidator
    validators["body"] = body
    return validators


VALIDATOR_MAP_PREPARED = _validator_map()
