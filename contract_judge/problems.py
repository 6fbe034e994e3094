"""A problem the judge finds, in the shape Prism's `sl-violations` header gives it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    location: tuple[str, ...]
    """Where: `("request", "body")`, `("response", "headers")`, `("response", "body", "event 3")`."""
    code: str
    """What kind: `schema`, `status`, `content-type`, `error-body`, `chunk`, `order`, `stream`."""
    message: str
    severity: str = "Error"

    def as_json(self) -> dict[str, Any]:
        """As one item of Prism's `sl-violations` array."""
        return {
            "location": list(self.location),
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
        }

    def __str__(self) -> str:
        return f"{'.'.join(self.location)}: {self.message}"
