"""The private parts of dependencies the mock builds on, named in one place: an upgrade that moves
one fails here, by name, rather than at the first connection or stream.

- uvicorn's httptools protocol: `mock_server/http/protocol.py` subclasses it and hands its
  `connection_made` a coalescing transport (`coalescing.py`), which it must write through;
- sse-starlette's `EventSourceResponse._send_with_timeout`, which `http/sse.py` overrides to send
  each event without a cancel scope when `send_timeout` is None;
- Connexion's `RequestValidationOperation` members that `http/prepared_validation.py` reuses.
"""

from __future__ import annotations

import inspect

from connexion.middleware.request_validation import RequestValidationOperation
from sse_starlette import EventSourceResponse
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from mock_server.http.sse import UIMessageStream


def test_uvicorns_protocol_keeps_the_transport_connection_made_gives_it_and_writes_through_it():
    made = inspect.getsource(HttpToolsProtocol.connection_made)
    assert "self.transport = transport" in made, "uvicorn no longer keeps the transport it is given"
    cycle = inspect.getsource(RequestResponseCycle.send)
    assert "self.transport.write(" in cycle, "uvicorn's response cycle no longer writes to the transport"
    start = inspect.getsource(HttpToolsProtocol.on_headers_complete)
    assert "transport=self.transport" in start, "the response cycle no longer gets the protocol's transport"


def test_sse_starlette_sends_each_event_through_the_method_the_mock_overrides():
    assert hasattr(EventSourceResponse, "_send_with_timeout")
    assert "self._send_with_timeout(" in inspect.getsource(EventSourceResponse._stream_response)
    assert "_send_interrupted" in inspect.getsource(EventSourceResponse._send_with_timeout)
    parameters = inspect.signature(EventSourceResponse.__init__).parameters
    assert parameters["send_timeout"].default is None
    assert UIMessageStream._send_with_timeout is not EventSourceResponse._send_with_timeout


def test_connexions_request_validation_has_the_members_the_prepared_one_reuses():
    source = inspect.getsource(RequestValidationOperation)
    for member in ("self._operation", "self._validator_map", "self.strict_validation"):
        assert member in source, member
    for method in ("extract_content_type", "validate_mime_type", "security_query_params"):
        assert hasattr(RequestValidationOperation, method), method
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
