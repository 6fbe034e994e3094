"""The contract's error body, `{"status": "error", "error": "..."}`, built in this one place.

Every answer the mock gives an error with goes through here: Connexion's problems and domain errors
(`errors.py`), the connection's own refusals before any app runs (`protocol.py`), the proxy's
answers (`proxy/messages.py`). It imports no web framework, so each of those may use it.
"""

from __future__ import annotations

import json
from typing import Any

MAX_ERROR_CHARS = 1000
"""Longest `error` message sent: validation messages quote the input, which may be megabytes."""


def error_body(text: str, /, **extra: Any) -> dict[str, Any]:
    """The contract's error body; `extra` adds fields such as `missing_fields`."""
    if len(text) > MAX_ERROR_CHARS:
        text = f"{text[:MAX_ERROR_CHARS]}… ({len(text):,} characters in all)"
    return {"status": "error", **extra, "error": text}


def error_json(text: str, /, **extra: Any) -> bytes:
    """`error_body` as the JSON bytes of a response."""
    return json.dumps(error_body(text, **extra)).encode()
