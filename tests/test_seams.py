"""The private parts of dependencies the project builds on (listed in `tests/seams.py`) are there and
behave as the files that use them rely on: an upgrade that moves one fails here, by name, rather
than at the first connection, request or stream."""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import json
import re
import tomllib
from collections import deque
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httptools
import httpx
import pytest
import uvicorn
from connexion.middleware.request_validation import RequestValidationOperation
from connexion.security import AbstractSecurityHandler
from connexion.validators.abstract import AbstractRequestBodyValidator
from connexion.validators.parameter import ParameterValidator
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from sse_starlette import EventSourceResponse
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from mock_server.config import Config
from mock_server.http import prepared
from mock_server.http.app import create_app
from mock_server.http.protocol import HardenedHttpToolsProtocol, refusal
from mock_server.http.server import uvicorn_options
from mock_server.http.sse import UIMessageStream
from tests.asgi_server import listening_socket
from tests.conftest import KEY_A, TEST_CONFIG, TEST_SEED
from tests.seams import SEAMS, TESTED, Seam

ROOT = Path(__file__).resolve().parent.parent


def _pins() -> dict[str, SpecifierSet]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = [*project["dependencies"], *(d for ds in project["optional-dependencies"].values() for d in ds)]
    return {(r := Requirement(line)).name: r.specifier for line in lines if Requirement(line).specifier}


@pytest.mark.parametrize("distribution", sorted(TESTED))
def test_each_dependency_with_a_seam_is_pinned_to_the_range_tested(distribution: str):
    pin = _pins().get(distribution)
    assert pin == SpecifierSet(TESTED[distribution]), (
        f"pyproject.toml pins {distribution} to {pin or 'nothing'}; its seams (tests/seams.py) were "
        f"tested on {TESTED[distribution]}: change both together, after running tests/test_seams.py"
    )


@pytest.mark.parametrize("distribution", sorted(TESTED))
def test_the_installed_version_of_each_is_one_tested(distribution: str):
    installed = version(distribution)
    assert SpecifierSet(TESTED[distribution]).contains(installed, prereleases=True), (
        f"{distribution} {installed} is installed; the seams tests/seams.py lists were tested on "
        f"{TESTED[distribution]}: run tests/test_seams.py, read the files its failures name, then "
        "widen TESTED and the pin in pyproject.toml"
    )


def test_every_seam_belongs_to_a_pinned_dependency():
    assert {seam.distribution for seam in SEAMS} == set(TESTED)


def _resolve(where: str) -> Any:
    module, _, name = where.partition(":")
    found: Any = importlib.import_module(module)
    for part in name.split("."):
        found = getattr(found, part)
    return found


def _assigned_in(cls: type, member: str) -> bool:
    """Whether some class of `cls`'s MRO sets `self.<member>` (an instance attribute)."""
    assignment = re.compile(rf"self\.{re.escape(member)}\s*(:[^=\n]+)?=[^=]")
    for klass in cls.__mro__:
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        if assignment.search(source):
            return True
    return False


@pytest.mark.parametrize("seam", SEAMS, ids=lambda seam: seam.where)
def test_every_seam_is_still_there(seam: Seam):
    installed = f"{seam.distribution} {version(seam.distribution)}"
    try:
        found = _resolve(seam.where)
    except (ImportError, AttributeError) as error:
        pytest.fail(f"{seam.where} is gone in {installed} ({error}): {seam.used_in} uses it")
    missing = [
        member
        for member in seam.members.split()
        if not hasattr(found, member) and not (inspect.isclass(found) and _assigned_in(found, member))
    ]
    assert not missing, (
        f"{installed}: {seam.where} no longer has {', '.join(missing)}: {seam.used_in} uses them"
    )


def _self_names(function: Callable[..., Any]) -> set[str]:
    """The attributes of `self` a method reads or calls."""
    tree = ast.parse(inspect.getsource(function).strip().replace("\n    ", "\n"))
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"
    }


# uvicorn


def test_uvicorns_data_received_takes_only_the_steps_the_hardened_one_repeats():
    # `HardenedHttpToolsProtocol.data_received` replaces uvicorn's whole: a new step there is one
    # the mock's connections would skip.
    assert _self_names(HttpToolsProtocol.data_received) == {
        "_unset_keepalive_if_required",
        "parser",
        "logger",
        "send_400_response",
        "_should_upgrade",
        "handle_websocket_upgrade",
        "_unsupported_upgrade_warning",
    }, "uvicorn's HttpToolsProtocol.data_received changed: mock_server/http/protocol.py repeats its steps"


def test_uvicorns_protocol_keeps_the_transport_connection_made_gives_it_and_writes_through_it():
    # protocol.py hands uvicorn a coalescing transport (coalescing.py), which it must write through.
    made = inspect.getsource(HttpToolsProtocol.connection_made)
    assert "self.transport = transport" in made, "uvicorn no longer keeps the transport it is given"
    cycle = inspect.getsource(RequestResponseCycle.send)
    assert "self.transport.write(" in cycle, "uvicorn's response cycle no longer writes to the transport"
    start = inspect.getsource(HttpToolsProtocol.on_headers_complete)
    assert "transport=self.transport" in start, "the response cycle no longer gets the protocol's transport"


def _uvicorns_own(method: str) -> str:
    """The source of `uvicorn.Server.<method>` as uvicorn wrote it (sse-starlette patches some)."""
    module = ast.parse(inspect.getsource(uvicorn.server))
    (server,) = (node for node in module.body if isinstance(node, ast.ClassDef) and node.name == "Server")
    (found,) = (
        node
        for node in server.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == method
    )
    return ast.unparse(found)


def test_uvicorns_server_keeps_the_signals_and_connections_the_graceful_one_reads():
    exit_ = _uvicorns_own("handle_exit")
    assert "self._captured_signals.append(sig)" in exit_, "server.py filters uvicorn's _captured_signals"
    captured = _uvicorns_own("capture_signals")
    assert "self._captured_signals" in captured and "raise_signal" in captured
    shutdown = _uvicorns_own("shutdown")
    for step in ("self.servers", "self.server_state.connections", "connection.shutdown()"):
        assert step in shutdown, f"uvicorn's Server.shutdown no longer uses {step}: server.py does too"
    assert "timeout_graceful_shutdown" in shutdown, "server.py bounds uvicorn's shutdown through it"


async def test_uvicorns_connection_state_is_what_the_hardened_protocol_reads():
    release = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    sock = listening_socket("127.0.0.1")
    options = uvicorn_options(Config())
    server = uvicorn.Server(uvicorn.Config(app, **options, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    reader, writer = await asyncio.open_connection(*sock.getsockname()[:2])
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: mock\r\n\r\n")
        connections = server.server_state.connections
        await _until(lambda: any(getattr(c, "cycle", None) for c in connections), "a request under way")
        (protocol,) = connections
        assert isinstance(protocol, HardenedHttpToolsProtocol)
        assert protocol.cycle.response_started is False and protocol.cycle.response_complete is False
        assert isinstance(protocol.pipeline, deque) and protocol.flow.read_paused is False
        assert protocol.timeout_keep_alive_task is None
        release.set()
        assert (await reader.readuntil(b"ok")).startswith(b"HTTP/1.1 200 OK\r\n")
        await _until(lambda: protocol.timeout_keep_alive_task is not None, "the keep-alive wait")
        assert isinstance(protocol.timeout_keep_alive_task, asyncio.TimerHandle)
        assert protocol.cycle.response_complete is True
        # The server's own refusal: uvicorn's status line and default headers, the contract's body.
        writer.write(b"GET /\x01 HTTP/1.1\r\n\r\n")
        answer = await reader.read()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        assert b"\r\nserver: uvicorn\r\n" in head and b"\r\ndate: " in head
        assert json.loads(body)["error"].startswith("Invalid request target")
    finally:
        writer.close()
        server.should_exit = True
        await serving


async def _until(condition: Callable[[], object], what: str, within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.005)
    assert condition(), what


# httptools


@pytest.mark.parametrize(
    ("request_bytes", "answer"),
    [
        (b"FROB / HTTP/1.1\r\n\r\n", (400, "Unknown method FROB")),
        (b"GET / HTTP/1.9\r\n\r\n", (400, "Only HTTP/1.0 and HTTP/1.1 are served")),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", (400, "Only HTTP/1.0 and HTTP/1.1 are served")),
        (b"GET /\x01 HTTP/1.1\r\n\r\n", (400, "Invalid request target: ")),
        (b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", (400, "Invalid header: ")),
        (b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", (400, "Invalid chunked body: ")),
    ],
)
def test_httptools_names_the_faults_the_refusals_read(request_bytes: bytes, answer: tuple[int, str]):
    parser = httptools.HttpRequestParser(object())
    with pytest.raises(httptools.HttpParserError) as error:
        parser.feed_data(request_bytes)
    status, message = refusal(error.value, request_bytes, 16 * 1024)
    assert (status, message[: len(answer[1])]) == answer, f"httptools said {error.value!r}"


# sse-starlette


def test_sse_starlette_sends_each_event_through_the_method_the_mock_overrides():
    assert "self._send_with_timeout(" in inspect.getsource(EventSourceResponse._stream_response)
    assert "_send_interrupted" in inspect.getsource(EventSourceResponse._send_with_timeout)
    parameters = inspect.signature(EventSourceResponse.__init__).parameters
    assert parameters["send_timeout"].default is None
    assert UIMessageStream._send_with_timeout is not EventSourceResponse._send_with_timeout


# Connexion


async def test_connexions_inner_app_builds_its_apis_with_the_class_set_on_it(monkeypatch: pytest.MonkeyPatch):
    app = create_app(TEST_CONFIG, TEST_SEED)
    seen: list[str | None] = []
    operation_id_of = prepared.operation_id_of
    monkeypatch.setattr(
        prepared, "operation_id_of", lambda scope: seen.append(operation_id_of(scope)) or seen[-1]
    )
    await app.runtime.start()
    try:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock")
        async with http:
            response = await http.post("/api/sessions", json={"title": "seams"}, headers={"x-api-key": KEY_A})
    finally:
        await app.runtime.close()
    # The body validator read the operation off the routing scope key; the handler got the account
    # through Connexion's context.
    assert seen == ["createSession"], "reading.py reads the operation off connexion's ROUTING_CONTEXT"
    assert response.status_code == 200 and response.json()["session"]["accountId"] == "artist-a"
    apis = [api for apis in app._middleware_app.apis.values() for api in apis]
    assert apis and all(isinstance(api, prepared.PreparedApi) for api in apis), (
        "Connexion no longer builds its inner app's APIs with `api_cls` (prepared.use_prepared_operations)"
    )
    (operation,) = (api.operations["createSession"] for api in apis if "createSession" in api.operations)
    assert isinstance(operation, prepared.PreparedOperation) and operation._fn.__name__ == "create_session"


def test_connexion_checks_security_and_bodies_through_the_members_overridden():
    assert "self._accepts_kwarg(func" in inspect.getsource(AbstractSecurityHandler._generic_check)
    assert all(
        handler._accepts_kwarg is prepared._accepts_kwarg for handler in prepared.SECURITY_MAP.values()
    )
    wrap = inspect.getsource(AbstractRequestBodyValidator.wrap_receive)
    assert wrap.index("self._parse(") < wrap.index("self._validate("), "prepared.py overrides both"
    assert list(inspect.signature(ParameterValidator.validate_parameter).parameters) == [
        "parameter_type",
        "value",
        "param",
        "param_name",
    ]
    assert "self.validate_parameter(" in inspect.getsource(ParameterValidator)


def test_connexions_request_validation_takes_the_steps_the_prepared_one_repeats():
    call = inspect.getsource(RequestValidationOperation.__call__)
    # The steps `PreparedValidationOperation.__call__` repeats, in this order.
    steps = [
        "parameter_validator.validate(scope)",
        "extract_content_type",
        "validate_mime_type",
        "body_schema",
    ]
    positions = [call.index(step) for step in steps]
    assert positions == sorted(positions), "Connexion's validation steps changed order"
    assert "wrap_receive" in call
    assert "self._operation._uri_parser_class" in call, (
        "prepared_validation.py builds the URI parser as Connexion does"
    )
