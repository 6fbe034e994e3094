"""The admin API: control and inspect a running mock under its own prefix and its own document.

Its document (`openapi/admin.yaml`) is served at `/__mock/openapi.json` and is never merged into the
contract's. Handlers are in `mock_server.admin.handlers`, one per `operationId`.
"""

from __future__ import annotations

import re
from typing import Any

from mock_server.admin import handlers

PREFIX = "/__mock"


def handler_for(operation_id: str) -> Any:
    """`getState` → `handlers.get_state`."""
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()
    try:
        return getattr(handlers, name)
    except AttributeError:
        raise LookupError(f"no admin handler {name!r} for operationId {operation_id!r}") from None
