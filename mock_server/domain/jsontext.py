"""JSON text read without parsing it: where its arrays, objects and members open and close, outside
strings. For text too deep to parse at all, or cut short while it streams."""

from __future__ import annotations

from collections.abc import Iterator

STRUCTURE = frozenset("[]{},")


class Structure:
    """The structural characters of a JSON text, with their index; once iterated, whether the
    text ends inside a string."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.ends_in_string = False

    def __iter__(self) -> Iterator[tuple[int, str]]:
        in_string = escaped = False
        for index, char in enumerate(self.text):
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
            elif char in STRUCTURE:
                yield index, char
        self.ends_in_string = in_string
