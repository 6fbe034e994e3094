"""Schemathesis's own cases for the compared documents, as the bytes its default transport sends."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
import schemathesis

from tests.alignment.operations import DOCUMENTS, Operation
from tests.alignment.wire import Wire

SCHEMAS = {name: schemathesis.openapi.from_dict(document) for name, document in DOCUMENTS.items()}


def wire_of(op: Operation, case: Any) -> Wire | None:
    sent = case.as_transport_kwargs(base_url="http://mock")
    url = urlsplit(requests.Request("GET", sent["url"], params=sent.get("params")).prepare().url)
    template = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(op.path))
    routed = re.fullmatch(template, url.path)
    if routed is None:
        return None  # not routed to the operation: a routing answer (404), not validation
    path_params = {name: unquote(value) for name, value in routed.groupdict().items()}
    headers = {k.lower(): v for k, v in sent.get("headers", {}).items()}
    if "json" in sent:
        try:
            body: bytes | None = json.dumps(sent["json"], allow_nan=False).encode()
        except ValueError:
            return None  # not JSON: requests refuses to send it
    else:
        data = sent.get("data", sent.get("content"))
        body = data.encode() if isinstance(data, str) else data
    return Wire(path_params, url.query, body, headers.get("content-type"))
