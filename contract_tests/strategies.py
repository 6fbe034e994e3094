"""What the rules draw: chat ids that are not UUIDs, unknown UUIDs, wrong keys, message texts.

Every value is one a real client can send as drawn: ids go in a path segment (percent-encoded),
keys in a header (printable ASCII, no surrounding whitespace).
"""

from __future__ import annotations

import string
import uuid

from hypothesis import strategies as st


def is_uuid(text: str) -> bool:
    """The canonical form the service accepts (hyphenated, any case); no braces, URNs or bare hex."""
    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False


# One path segment: "/" separates segments, and "." / ".." are resolved away by every client.
path_segments = st.text(st.characters(codec="utf-8", exclude_characters="/"), min_size=1, max_size=40).filter(
    lambda s: s not in (".", "..")
)
almost_uuids = st.uuids().flatmap(
    lambda u: st.sampled_from(
        [
            u.hex,  # no hyphens
            f"{{{u}}}",  # braces
            f"urn:uuid:{u}",
            str(u)[:-1],  # one digit short
            f"{u}0",  # one digit long
            f" {u}",
            str(u).replace("-", "_"),
            str(u)[:-1] + "g",  # not hexadecimal
        ]
    )
)
non_uuids = st.one_of(almost_uuids, path_segments.filter(lambda s: not is_uuid(s)))
# Version 4, RFC variant: an id a strict UUID check accepts, so only existence can refuse it.
unknown_uuids = st.uuids(version=4).map(str)
wrong_keys = st.text(string.ascii_letters + string.digits + "-_.", min_size=1, max_size=48)
message_texts = st.text(string.ascii_letters + string.digits + " .,?!", min_size=1, max_size=60)
