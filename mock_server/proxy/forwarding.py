"""What a proxy changes of a message it forwards, as RFC 9110 says: the hop-by-hop fields are its
own (section 7.6.1) and it adds itself to `Via` (7.6.3). Fields pass as bytes, whatever their
encoding. A body's content coding is left as it came (the judge reads a decoded copy); so that it
can, the upstream is asked only for the codings this proxy reads."""

from __future__ import annotations

import codecs
import zlib
from collections.abc import Iterable

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
"""Fields that describe one connection, not the message (RFC 9110 7.6.1 and its list of examples)."""
READABLE = frozenset({b"gzip", b"x-gzip", b"deflate", b"identity"})
"""The content codings the judge can read (the standard library's)."""

Fields = list[tuple[bytes, bytes]]


def end_to_end(headers: Iterable[tuple[bytes, bytes]], version: str, *, drop: Iterable[bytes] = ()) -> Fields:
    """`headers` without the hop-by-hop fields, those `Connection` names, and `drop`; `Via` gains
    this proxy, as a recipient of protocol `version` (`1.1`)."""
    headers = list(headers)
    named = {
        name.strip().lower()
        for key, value in headers
        if key.lower() == b"connection"
        for name in value.split(b",")
    }
    excluded = HOP_BY_HOP | named | {name.lower() for name in drop}
    kept = [(key, value) for key, value in headers if key.lower() not in excluded]
    via = [value for key, value in kept if key.lower() == b"via"]
    kept = [(key, value) for key, value in kept if key.lower() != b"via"]
    return [*kept, (b"via", b", ".join([*via, f"{version} recoup-mock".encode()]))]


def readable_codings(accept_encoding: bytes | None) -> bytes:
    """The client's `Accept-Encoding` narrowed to what the judge reads (`identity` when nothing is
    left): the answer stays compressed end to end when the client asked for it, and is judged."""
    if accept_encoding is None:
        return b"identity"
    kept = []
    for item in accept_encoding.split(b","):
        coding = item.split(b";")[0].strip().lower()
        if coding == b"*":
            kept.extend([b"gzip", b"deflate"])
        elif coding in READABLE:
            kept.append(item.strip())
    return b", ".join(kept) or b"identity"


class Decoder:
    """The decoded text of a body in a content coding, fed as it comes (a UTF-8 sequence cut
    between two pieces is joined); `None` when the coding is one this proxy cannot read (the body
    is forwarded all the same, not judged)."""

    def __init__(self, content_encoding: str | None, most: int = 0) -> None:
        self.most = most
        """Most bytes the decoded body may have (0: no bound); beyond, it is not read."""
        self._size = 0
        codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
        self.coding = ", ".join(codings)
        self._text = codecs.getincrementaldecoder("utf-8")("replace")
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

    def decode(self, data: bytes, *, final: bool = False) -> str | None:
        if self._steps is None:
            return None
        try:
            for step in self._steps:
                # Bounded, so that a small compressed body cannot unpack to gigabytes here.
                data = step.decompress(data, self.most + 1 - self._size if self.most else 0)
        except zlib.error:
            self._steps = None
            return None
        self._size += len(data)
        if self.most and self._size > self.most:
            self._steps = None
            self.coding = f"{self.coding or 'identity'}, unpacking to more than {self.most} bytes"
            return None
        return self._text.decode(data, final=final)
