"""What a proxy changes of a message it forwards, as RFC 9110 says: the hop-by-hop fields are its
own (section 7.6.1), it adds itself to `Via` (7.6.3), and a body's content coding is left as it came
(the judge reads a decoded copy)."""

from __future__ import annotations

import zlib
from collections.abc import Iterable

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
"""Fields that describe one connection, not the message (RFC 9110 7.6.1 and its list of examples)."""
VIA = "1.1 recoup-mock"

Fields = list[tuple[str, str]]


def end_to_end(headers: Iterable[tuple[str, str]], *, drop: Iterable[str] = ()) -> Fields:
    """`headers` without the hop-by-hop fields, those `Connection` names, and `drop`; `Via` gains
    this proxy."""
    headers = list(headers)
    named = {
        name.strip().lower()
        for key, value in headers
        if key.lower() == "connection"
        for name in value.split(",")
    }
    excluded = HOP_BY_HOP | named | {name.lower() for name in drop}
    kept = [(key, value) for key, value in headers if key.lower() not in excluded]
    via = [value for key, value in kept if key.lower() == "via"]
    kept = [(key, value) for key, value in kept if key.lower() != "via"]
    return [*kept, ("via", ", ".join([*via, VIA]))]


class Decoder:
    """The decoded bytes of a body in a content coding, fed as it comes; `None` from `decode` when
    the coding is one this proxy cannot read (the body is forwarded all the same, not judged)."""

    def __init__(self, content_encoding: str | None) -> None:
        codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
        self.coding = ", ".join(codings)
        self._steps: list[zlib._Decompress] | None = []
        for coding in reversed(codings):  # the last coding applied is the first undone
            if coding in ("gzip", "x-gzip"):
                self._steps.append(zlib.decompressobj(wbits=16 + zlib.MAX_WBITS))
            elif coding == "deflate":
                self._steps.append(zlib.decompressobj())
            elif coding != "identity":
                self._steps = None
                break

    @property
    def readable(self) -> bool:
        return self._steps is not None

    def decode(self, data: bytes) -> bytes | None:
        if self._steps is None:
            return None
        try:
            for step in self._steps:
                data = step.decompress(data)
        except zlib.error:
            self._steps = None
            return None
        return data
