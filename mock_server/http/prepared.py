"""Connexion's layers with their per-operation work done once, at start-up, instead of per request.

Connexion stays the spec-driven router, security and validation layer. Where it lets a user choose
a part (the middleware list, `validator_map`, `security_map`; the inner app's API class, which only
its private `_middleware_app` exposes), that part is given a class that builds once what Connexion
3.3 rebuilds on every request: the handler's decorators (signature inspection, parameter names,
argument assembly), the security function's signature check, and the body and parameter
validators. Those classes override and read private members of Connexion's (`_fn`, `_parse`,
`_validator`, `_schema`, `_encoding`, `_accepts_kwarg`): `tests/seams.py` lists them, Connexion is
pinned to the minor version they were tested on, and `tests/test_seams.py` fails by name when one
moves. Behaviour is Connexion's own; only when the work happens changes.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from connexion.apps.asynchronous import AsyncApi, AsyncASGIApp, AsyncOperation
from connexion.decorators.parameter import snake_and_shadow
from connexion.json_schema import format_error_with_path
from connexion.lifecycle import ConnexionRequest
from connexion.middleware.context import ContextMiddleware
from connexion.middleware.exceptions import ExceptionMiddleware
from connexion.middleware.lifespan import LifespanMiddleware
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.security import SecurityMiddleware
from connexion.middleware.server_error import ServerErrorMiddleware
from connexion.security import SECURITY_HANDLERS
from connexion.utils import inspect_function_arguments, is_null, is_nullable, make_type
from connexion.validators import VALIDATOR_MAP, JSONRequestBodyValidator, ParameterValidator
from connexion.validators.json import Draft4RequestValidator, Draft4Validator
from jsonschema import ValidationError
from starlette.responses import Response as StarletteResponse
from starlette.types import Receive, Scope, Send

from mock_server.domain.errors import InvalidInput
from mock_server.http.limits import load_json
from mock_server.http.prepared_validation import PreparedValidationMiddleware
from mock_server.http.reading import ERROR_MESSAGE, CredentialsAfterBody, RefusedBody, operation_id_of


def middlewares(
    credentials_after_body: Mapping[str, Any],
    before_validation: Sequence[Any] = (),
    validated: Sequence[Any] = (),
) -> list[Any]:
    """Connexion's default list without Swagger UI (the mock serves Swagger UI 5 itself) and without
    response validation (off in the mock; the contract suite validates responses from outside), with
    its request validation prepared once per operation (`prepared_validation`), and with a second
    security layer, after validation, for the operations whose body is checked first
    (`credentials_after_body`: their security requirements, by operation id). `before_validation`
    are the layers just before validation (Connexion's `BEFORE_VALIDATION` finds only its own
    class), `validated` those a request reaches once it has passed it, before those credentials."""
    return [
        ServerErrorMiddleware,
        ExceptionMiddleware,
        RoutingMiddleware,
        SecurityMiddleware,
        *before_validation,
        PreparedValidationMiddleware,
        *validated,
        functools.partial(CredentialsAfterBody, requirements=credentials_after_body),
        LifespanMiddleware,
        ContextMiddleware,
    ]


_NO_DEFAULT = object()


@dataclass(frozen=True)
class _Parameter:
    name: str
    """As the document names it (`startIndex`)."""
    argument: str
    """As the handler names it (`start_index`)."""
    location: str
    """`path` or `query`."""
    kind: str
    """The schema's type, which the text is cast to."""
    default: Any = _NO_DEFAULT

    def read(self, text: str) -> Any:
        # Connexion's own cast (`make_type`); validation has already refused what does not cast.
        return make_type(text, self.kind, None)


class PreparedOperation(AsyncOperation):  # type: ignore[misc]
    """An operation that calls its handler with arguments read as Connexion reads them, worked out
    once per operation instead of by Connexion's decorators on every call.

    Routing, security and validation have run by then (they are Connexion's middleware); what is
    left is the handler's arguments, path and query parameters cast by their schema types (query
    defaults included), the body as Connexion reads it (the schema's default, or `{}`, when there is
    none) and `context_`, and the answer: a Starlette response as it is, anything else as JSON with
    200. An operation without a body never reads one (Connexion parsed a form body even there, and
    refused a malformed one with 400, though no handler could use it).
    """

    def prepare(self, operation: Any) -> PreparedOperation:
        names = snake_and_shadow if self.pythonic_params else str
        accepted = set(inspect.signature(self._fn).parameters)
        self._parameters = [
            _Parameter(
                p["name"],
                names(p["name"]),
                p["in"],
                p.get("schema", {}).get("type", "string"),
                p.get("schema", {}).get("default", _NO_DEFAULT),
            )
            for p in operation.parameters
            if p["in"] in ("path", "query") and names(p["name"]) in accepted
        ]
        schema = operation.body_schema() if operation.is_request_body_defined else {}
        self._body_default = schema.get("default", {})
        self._body_nullable = is_nullable(schema)
        self._takes_body = "body" in accepted and operation.is_request_body_defined
        self._takes_context = "context_" in accepted
        return self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        kwargs: dict[str, Any] = {}
        path_params = scope.get("path_params", {})
        query: dict[str, str] | None = None
        for parameter in self._parameters:
            if parameter.location == "path":
                if parameter.name in path_params:
                    kwargs[parameter.argument] = parameter.read(path_params[parameter.name])
                continue
            if query is None:
                # The last of repeated values wins, as in Connexion.
                query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), True))
            if parameter.name in query:
                kwargs[parameter.argument] = parameter.read(query[parameter.name])
            elif parameter.default is not _NO_DEFAULT:
                kwargs[parameter.argument] = copy.deepcopy(parameter.default)
        if self._takes_body:
            kwargs["body"] = await self._body(scope, receive)
        if self._takes_context:
            kwargs["context_"] = scope["extensions"]["connexion_context"]
        result = await self._fn(**kwargs)
        if not isinstance(result, StarletteResponse):
            result = StarletteResponse(self.jsonifier.dumps(result), 200, media_type="application/json")
        await result(scope, receive, send)

    async def _body(self, scope: Scope, receive: Receive) -> Any:
        # Connexion's own reading (`get_body`: JSON by the content type, else the bytes), then its
        # body argument: null for a nullable schema, else the schema's default when there is none.
        try:
            body = await ConnexionRequest(scope, receive).get_body()
        except ValueError:
            # Connexion's JSON media-type test unpacks on "/", which a parameter may hold too.
            raise InvalidInput("The Content-Type header cannot be read") from None
        if self._body_nullable and is_null(body):
            return None
        if body is None:
            return copy.deepcopy(self._body_default)
        return body


class PreparedApi(AsyncApi):  # type: ignore[misc]
    def make_operation(self, operation: Any) -> PreparedOperation:
        prepared = PreparedOperation(
            operation.function,
            jsonifier=self.jsonifier,
            operation_id=operation.operation_id,
            pythonic_params=self.pythonic_params,
        )
        return prepared.prepare(operation)


def use_prepared_operations(app: AsyncASGIApp) -> None:
    """Make every API added to Connexion's inner app from now on build its handlers once.

    `AsyncApp` creates that inner app itself and has no argument for its API class, so the class is
    set on the instance; `tests/test_seams.py` fails if a Connexion upgrade stops honouring it.
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


# Connexion hands validators the operation's own body schema and parameter objects on every request,
# so an object's identity names it; the object is kept with its validator so the identity cannot be
# reused by another.
_VALIDATORS: dict[tuple[str, int], tuple[dict[str, Any], Any]] = {}


def _built_once(role: str, definition: dict[str, Any], build: Callable[[], Any]) -> Any:
    """The validator `build` makes for `definition` in `role` (body or parameter), made once."""
    key = (role, id(definition))
    cached = _VALIDATORS.get(key)
    if cached is None or cached[0] is not definition:
        cached = (definition, build())
        _VALIDATORS[key] = cached
    return cached[1]


class PreparedJSONBodyValidator(JSONRequestBodyValidator):  # type: ignore[misc]
    """Connexion's JSON body validator, with the draft-4 validator of each schema built once, and
    the body's depth bounded before it is parsed."""

    _operation_id: str | None = None

    async def _parse(self, stream: AsyncIterator[bytes], scope: Scope) -> Any:
        # Connexion makes a validator per request; the error layer, outside routing, reads the
        # operation off the refusal.
        self._operation_id = operation_id_of(scope)
        body = b"".join([message async for message in stream]).decode(self._encoding)
        return load_json(body) if body else None

    def _validate(self, body: Any) -> dict[str, Any] | None:
        # Connexion's own steps and message, unless the failing schema gives the service's words.
        if not self._nullable and body is None:
            raise RefusedBody("Request body must not be empty", self._operation_id)
        try:
            return self._validator.validate(body)  # type: ignore[no-any-return]
        except ValidationError as exception:
            declared = exception.schema.get(ERROR_MESSAGE) if isinstance(exception.schema, dict) else None
            message = declared or f"{exception.message}{format_error_with_path(exception=exception)}"
            raise RefusedBody(message, self._operation_id, _fields_of(exception)) from None

    @property
    def _validator(self) -> Any:
        schema = self._schema
        return _built_once(
            "body",
            schema,
            lambda: Draft4RequestValidator(schema, format_checker=Draft4Validator.FORMAT_CHECKER),
        )


def _fields_of(exception: ValidationError) -> list[str]:
    """The path to what was refused, as the service's `missing_fields` names it: for a missing
    property, the property."""
    path = [str(part) for part in exception.absolute_path]
    required = exception.validator_value
    if (
        exception.validator == "required"
        and isinstance(exception.instance, dict)
        and isinstance(required, list)
    ):
        missing = [name for name in required if name not in exception.instance]
        path += missing[:1]
    return path


def _parameter_validator(param: dict[str, Any]) -> Any:
    schema = param.get("schema", param)
    return _built_once(
        "parameter", param, lambda: Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    )


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
                # The message alone: the exception's text adds the schema and the instance again.
                return f"{param.get('name', param_name)}: {exception.message}"
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
