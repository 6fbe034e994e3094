"""Server-sent events read from text fed in pieces, as a browser's `EventSource` reads them
(WHATWG HTML, "Parsing an event stream"): a line ends at CRLF, LF or CR, a blank line dispatches the
event, a line starting with `:` is a comment, and `data` lines join with newlines."""

from __future__ import annotations

import re
from typing import Any

Event = dict[str, Any]
"""`{"data": str, "event"?: str, "id"?: str, "retry"?: int}`"""

_LINE_END = re.compile(r"\r\n|\n|\r")


class EventParser:
    """Feed it text as it arrives; it returns each event once its blank line has come."""

    def __init__(self) -> None:
        self._pending = ""
        self._waiting: list[str] = []
        """Pieces of the pending line that came after `_pending`, none with a line's end."""
        self._started = False
        self._data: list[str] = []
        self._fields: Event = {}

    def feed(self, text: str) -> list[Event]:
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        if not self._pending.endswith("\r") and _LINE_END.search(text) is None:
            self._waiting.append(text)  # a long line coming in pieces: joined once it ends
            return []
        text = self._pending + "".join(self._waiting) + text
        self._waiting = []
        events = []
        start = 0
        for end in _LINE_END.finditer(text):
            if end.group() == "\r" and end.end() == len(text):
                break  # perhaps the first half of a CRLF: wait for what follows
            event = self._line(text[start : end.start()])
            start = end.end()
            if event is not None:
                events.append(event)
        self._pending = text[start:]
        return events

    def end(self) -> list[Event]:
        """The stream has ended: an event whose blank line never came still counts (as the AI
        SDK's parser reads a last line without its end)."""
        events = []
        self._pending += "".join(self._waiting)
        self._waiting = []
        if self._pending:
            event = self._line(self._pending.rstrip("\r"))
            self._pending = ""
            if event is not None:
                events.append(event)
        last = self._line("")
        return [*events, last] if last is not None else events

    def _line(self, line: str) -> Event | None:
        if not line:
            if not self._data:
                self._fields = {}
                return None
            event = {"data": "\n".join(self._data), **self._fields}
            self._data, self._fields = [], {}
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name in ("event", "id"):
            self._fields[name] = value
        elif name == "retry" and value.isascii() and value.isdigit():  # anything else is ignored
            self._fields[name] = int(value)
        return None


def parse_sse(text: str) -> list[Event]:
    """The events of a whole event stream."""
    parser = EventParser()
    return parser.feed(text) + parser.end()
