"""What the soak's raw cases aim at, and the statuses they expect."""

from __future__ import annotations

from dataclasses import dataclass

S4 = frozenset({400})
"""Only a 400 is right."""
C4 = frozenset(range(400, 500))
"""Any refusal of the client's fault is right."""
OK = frozenset({200})


@dataclass(frozen=True)
class Target:
    """What the cases aim at: an idle chat of a session, its paths, and long inputs."""

    session_id: str
    chat_id: str
    digits: bytes = b"1" * 5000
    big: int = 10 * 1024 * 1024

    @property
    def idle(self) -> bytes:
        return self.chat_id.encode()

    @property
    def chat_path(self) -> bytes:
        return f"/api/sessions/{self.session_id}/chats/{self.chat_id}".encode()

    @property
    def stop(self) -> bytes:
        return b"/api/chat/" + self.idle + b"/stop"

    @property
    def stream(self) -> bytes:
        return b"/api/chat/" + self.idle + b"/stream"
