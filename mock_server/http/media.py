"""A request body labelled `text/plain`, `Application/JSON` or not at all is read as the JSON it holds.

The service reads every body with `request.json()`, which ignores the Content-Type
(`lib/chat/validateChatWorkflow.ts` and each `validate*Body.ts` of `recoupable/api`), and the real
frontend's transport relies on it: `WorkflowChatTransport` of `@workflow/ai` posts its body as a
string without a Content-Type, which `fetch` labels `text/plain;charset=UTF-8`. Connexion picks a
body's validator by its Content-Type, so such a body is relabelled `application/json` before it is
validated; any other media type is still refused with 415 when the contract does not list it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

JSON = b"application/json"


class PlainTextIsJson:
    """Relabels a `text/plain` or unlabelled request body as JSON, outside `except_under`."""

    def __init__(self, app: ASGIApp, except_under: str) -> None:
        self.app = app
        self.except_under = except_under

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(self.except_under):
            headers = scope["headers"]
            label = next((value for name, value in headers if name == b"content-type"), None)
            has_body = any(name in (b"content-length", b"transfer-encoding") for name, _ in headers)
            if _read_as_json(label) or (label is None and has_body):
                relabelled = [(k, v) for k, v in headers if k != b"content-type"]
                relabelled.append((b"content-type", JSON))
                scope = {**scope, "headers": relabelled}
        await self.app(scope, receive, send)


def _read_as_json(label: bytes | None) -> bool:
    """`text/plain`, or JSON spelled in another case (media types are case-insensitive, RFC 9110;
    Connexion compares them as written)."""
    if label is None:
        return False
    media_type = label.split(b";", 1)[0].strip()
    return media_type.lower() == b"text/plain" or (media_type.lower() == JSON and media_type != JSON)
