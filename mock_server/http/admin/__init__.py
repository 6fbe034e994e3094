"""The admin API: control and inspect a running mock under its own prefix and its own document.

Its document (`openapi/admin.yaml`) is served at `/__mock/openapi.json` and is never merged into the
contract's. Handlers are in `mock_server.http.admin.handlers`, one per `operationId`.
"""

from mock_server.http.admin import handlers

PREFIX = "/__mock"

__all__ = ["PREFIX", "handlers"]
