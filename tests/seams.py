"""Every member of a dependency the project uses that is not that dependency's public, documented
API: the one list of them, and the versions they were tested on.

Each dependency named here is pinned in `pyproject.toml` to the range in `TESTED`, and
`tests/test_seams.py` fails, naming the seam and the file that uses it, when an installed version
lies outside that range or a seam is no longer there or no longer behaves as the file relies on.
To upgrade: widen the pin and `TESTED` together, run `pytest tests/test_seams.py`, and read the
files named by whatever fails.

Why each is kept rather than a public API:
- uvicorn's httptools protocol: the header and body timeouts, the bound on a request's head and
  the contract's body for a request the server cannot parse live in the connection, which uvicorn
  exposes only as this class (`--http` takes a protocol class); the shutdown that ends streams
  first needs the server's connections and its signal bookkeeping.
- Connexion: start-up preparation of handlers and validators (`http/prepared*.py`) and the
  service's order of checks (`http/reading.py`) replace parts of its layers, which it lets a user
  choose (`api_cls`, `validator_map`, `security_map`) but builds from private members.
- sse-starlette: one send per event without a cancel scope, where it has only a per-send timeout.
- Schemathesis: its check failures and results, and the test-case header, read to report a
  failure with the request that caused it.
- httptools: the texts of its parser errors, which name what was wrong with a request.
"""

from __future__ import annotations

from dataclasses import dataclass

TESTED: dict[str, str] = {
    "connexion": ">=3.3,<3.4",
    "uvicorn": ">=0.55,<0.56",
    "sse-starlette": ">=3.7,<3.8",
    "schemathesis": ">=4.32,<4.33",
    "httptools": ">=0.9,<0.10",
}
"""The version range of each dependency with a seam, as `pyproject.toml` pins it."""


@dataclass(frozen=True)
class Seam:
    distribution: str
    """The package it belongs to, as installed (a key of `TESTED`)."""
    where: str
    """`module:Class` (or `module:name` for a module-level one)."""
    members: str
    """Attributes, methods or instance attributes the project reads, calls or overrides, by a space."""
    used_in: str
    """The project's file that relies on them."""

    @property
    def name(self) -> str:
        return f"{self.where} ({self.used_in})"


_HTTPTOOLS_IMPL = "uvicorn.protocols.http.httptools_impl"

SEAMS: tuple[Seam, ...] = (
    Seam(
        "uvicorn",
        f"{_HTTPTOOLS_IMPL}:HttpToolsProtocol",
        "connection_made connection_lost eof_received data_received shutdown on_url on_header "
        "on_headers_complete on_message_complete send_400_response _unset_keepalive_if_required "
        "_should_upgrade handle_websocket_upgrade _unsupported_upgrade_warning "
        "timeout_keep_alive_task timeout_keep_alive transport flow parser cycle pipeline server_state "
        "loop logger client",
        "mock_server/http/protocol.py",
    ),
    Seam(
        "uvicorn",
        f"{_HTTPTOOLS_IMPL}:RequestResponseCycle",
        "response_started response_complete disconnected message_event transport",
        "mock_server/http/protocol.py, server.py",
    ),
    Seam("uvicorn", f"{_HTTPTOOLS_IMPL}:STATUS_LINE", "", "mock_server/http/protocol.py"),
    Seam(
        "uvicorn",
        "uvicorn.protocols.http.flow_control:FlowControl",
        "read_paused resume_reading",
        "mock_server/http/protocol.py",
    ),
    Seam("uvicorn", "uvicorn.server:ServerState", "connections default_headers", "protocol.py, server.py"),
    Seam(
        "uvicorn",
        "uvicorn.server:Server",
        "servers server_state should_exit force_exit handle_exit capture_signals _captured_signals "
        "startup shutdown",
        "mock_server/http/server.py",
    ),
    Seam("uvicorn", "uvicorn.config:STARTUP_FAILURE", "", "mock_server/http/workers.py"),
    Seam(
        "connexion",
        "connexion.apps.asynchronous:AsyncApp",
        "_middleware_app",
        "mock_server/http/app.py",
    ),
    Seam(
        "connexion",
        "connexion.apps.asynchronous:AsyncASGIApp",
        "api_cls apis",
        "mock_server/http/prepared.py",
    ),
    Seam(
        "connexion",
        "connexion.apps.asynchronous:AsyncOperation",
        "_fn jsonifier pythonic_params operation_id",
        "mock_server/http/prepared.py",
    ),
    Seam(
        "connexion",
        "connexion.security:AbstractSecurityHandler",
        "_accepts_kwarg",
        "mock_server/http/prepared.py",
    ),
    Seam(
        "connexion",
        "connexion.validators.json:JSONRequestBodyValidator",
        "_parse _validate _validator _schema _encoding _nullable wrap_receive",
        "mock_server/http/prepared.py",
    ),
    Seam(
        "connexion",
        "connexion.validators.parameter:ParameterValidator",
        "validate_parameter",
        "mock_server/http/prepared.py",
    ),
    Seam(
        "connexion",
        "connexion.middleware.request_validation:RequestValidationOperation",
        "_operation _validator_map strict_validation next_app extract_content_type validate_mime_type "
        "security_query_params",
        "mock_server/http/prepared_validation.py",
    ),
    Seam(
        "connexion",
        "connexion.operations.openapi:OpenAPIOperation",
        "_uri_parser_class uri_parser_class body_definition body_schema request_body "
        "is_request_body_defined parameters security_schemes function operation_id",
        "mock_server/http/prepared.py, prepared_validation.py, reading.py",
    ),
    Seam("connexion", "connexion.middleware.abstract:ROUTING_CONTEXT", "", "mock_server/http/reading.py"),
    Seam(
        "connexion",
        "connexion.middleware.security:SecurityMiddleware",
        "api_cls",
        "mock_server/http/reading.py",
    ),
    Seam(
        "sse-starlette",
        "sse_starlette.sse:EventSourceResponse",
        "_send_with_timeout _send_interrupted send_timeout",
        "mock_server/http/sse.py",
    ),
    Seam("sse-starlette", "sse_starlette.sse:AppStatus", "should_exit", "mock_server/http/server.py"),
    Seam(
        "httptools",
        "httptools:HttpParserError",
        "",
        "mock_server/http/protocol.py (`refusal` reads its subclasses and their texts)",
    ),
    Seam(
        "schemathesis", "schemathesis.core.failures:Failure", "title message", "contract_tests/test_schema.py"
    ),
    Seam("schemathesis", "schemathesis.core.result:Ok", "ok", "contract_tests/test_schema.py"),
    Seam(
        "schemathesis",
        "schemathesis.core:SCHEMATHESIS_TEST_CASE_HEADER",
        "",
        "contract_tests/bridge.py",
    ),
)
