"""`recoup-mock proxy --record FILE`: what passes through, kept as a seed file `recoup-mock serve
--seed FILE` serves: the accounts seen (each real key replaced by a new one, never written), their
sessions and chats as the upstream answered them, and each streamed answer as a recorded reply,
every chunk with its delay after the one before (`mock_server.domain.recorded`).

A chat that was sent messages gets their replies in order and no messages of its own, so that the
replay starts where the recording did; a chat that was only read keeps the messages it was read with.
Keys the upstream answered with the same `userId` are one account. An answer kept is one that ended
(`finish`) within `MAX_RECORDED_CHUNKS` chunks: one its client left is not replayed.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from pathlib import Path
from typing import Any

import yaml

from contract_judge import Request
from contract_judge.sse import EventParser
from mock_server.domain.recorded import MAX_RECORDED_CHUNKS
from mock_server.domain.seed import SeedError, validate_seed

log = logging.getLogger("recoup_mock.proxy")

_SESSION = re.compile(r"^/api/sessions/([^/]+)$")
_SESSION_CHATS = re.compile(r"^/api/sessions/([^/]+)/chats$")
_CHAT = re.compile(r"^/api/sessions/([^/]+)/chats/([^/]+)$")


def credential(request: Request) -> str | None:
    """The key the request authenticates with, either way the contract allows."""
    key = request.header("x-api-key")
    if key:
        return key
    authorization = request.header("authorization") or ""
    return authorization[7:].strip() or None if authorization.lower().startswith("bearer ") else None


class Reply:
    """One streamed answer as it passes: its chunks, each with the seconds since the one before."""

    def __init__(self) -> None:
        self._parser = EventParser()
        self._last = time.monotonic()
        self.chunks: list[list[Any]] = []
        self.overflowed = False

    @property
    def complete(self) -> bool:
        return bool(self.chunks) and self.chunks[-1][1]["type"] == "finish" and not self.overflowed

    def feed(self, text: str) -> None:
        self._take(self._parser.feed(text))

    def end(self) -> None:
        self._take(self._parser.end())

    def _take(self, events: list[dict[str, str]]) -> None:
        now = time.monotonic()
        for event in events:
            try:
                chunk = json.loads(event["data"])
            except ValueError:
                continue  # `[DONE]`, which the mock sends itself
            if not isinstance(chunk, dict) or not isinstance(chunk.get("type"), str):
                continue
            if len(self.chunks) >= MAX_RECORDED_CHUNKS:
                if not self.overflowed:
                    log.warning("an answer longer than %d chunks is not recorded", MAX_RECORDED_CHUNKS)
                self.overflowed = True
                return
            self.chunks.append([round(now - self._last, 4), chunk])
            self._last = now


class _Clash(Exception):
    """An id the upstream gave both a session and a chat, which a seed cannot hold."""


class Recorder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._new_keys: dict[str, str] = {}
        """Each real key seen, and the key that stands for it in the file (memory only)."""
        self._accounts: list[dict[str, Any]] = []
        self._of_key: dict[str, dict[str, Any]] = {}
        """Each new key's account."""
        self._sessions: dict[str, dict[str, Any]] = {}
        self._chats: dict[str, dict[str, Any]] = {}

    @property
    def chats(self) -> int:
        return len(self._chats)

    def _account(self, key: str, user_id: Any = None) -> dict[str, Any]:
        new = self._new_keys.setdefault(key, f"recorded-{secrets.token_hex(8)}")
        account = self._of_key.get(new)
        if account is None:
            account = {"id": None, "api_keys": [new], "sessions": []}
            self._of_key[new] = account
            self._accounts.append(account)
        if account["id"] is None and isinstance(user_id, str) and user_id:
            same = next((a for a in self._accounts if a["id"] == user_id), None)
            if same is None:
                account["id"] = user_id
            else:  # another key of the same user (a refreshed token, the other credential)
                same["api_keys"] += account["api_keys"]
                same["sessions"] += account["sessions"]
                for moved in account["api_keys"]:
                    self._of_key[moved] = same
                self._accounts.remove(account)
                account = same
        return account

    def _session(self, key: str, session_id: str, found: dict[str, Any] | None = None) -> dict[str, Any]:
        found = found or {}
        account = self._account(key, found.get("userId"))
        if session_id not in self._sessions and session_id in self._chats:
            raise _Clash(session_id)
        if session_id not in self._sessions:
            self._sessions[session_id] = {"id": session_id, "chats": []}
            account["sessions"].append(self._sessions[session_id])
        session = self._sessions[session_id]
        if isinstance(found.get("title"), str):
            session["title"] = found["title"]
        return session

    def _chat(
        self, key: str, session_id: str, chat_id: str, found: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        session = self._session(key, session_id)
        if chat_id not in self._chats and chat_id in self._sessions:
            raise _Clash(chat_id)
        if chat_id not in self._chats:
            self._chats[chat_id] = {"id": chat_id}
            session["chats"].append(self._chats[chat_id])
        chat = self._chats[chat_id]
        if found and isinstance(found.get("title"), str):
            chat["title"] = found["title"]
        return chat

    def answered(self, request: Request, status: int, body: bytes) -> None:
        try:
            self._answered(request, status, body)
        except _Clash as clash:
            log.warning("not recorded: the id %s names both a session and a chat", clash)

    def _answered(self, request: Request, status: int, body: bytes) -> None:
        """A whole answer: the sessions and chats it shows (not a canned one a mock chose for a
        `Prefer` header, which shows no state)."""
        key = credential(request)
        if key is None or status != 200 or request.header("prefer") is not None:
            return
        try:
            data = json.loads(body)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        path, method = request.path, request.method
        session, chat = data.get("session"), data.get("chat")
        if isinstance(session, dict) and isinstance(session.get("id"), str):
            self._session(key, session["id"], session)
        if not isinstance(chat, dict) or not isinstance(chat.get("id"), str):
            return
        session_id = chat.get("sessionId") or (session or {}).get("id")
        if not isinstance(session_id, str):
            return
        known = chat["id"] in self._chats
        entry = self._chat(key, session_id, chat["id"], chat)
        messages = data.get("messages")
        if method == "GET" and _CHAT.match(path) and isinstance(messages, list) and not known:
            entry["messages"] = [m for m in messages if isinstance(m, dict) and "role" in m and "parts" in m]

    def reply(self, request: Request) -> Reply | None:
        """A stream beginning: the answer to a message sent to a chat, or None for another stream."""
        key = credential(request)
        if key is None or request.method != "POST" or request.path != "/api/chat" or request.header("prefer"):
            return None
        try:
            body = json.loads(request.body)
            session_id, chat_id = str(body["sessionId"]), str(body["chatId"])
        except (ValueError, KeyError, TypeError):
            return None
        try:
            chat = self._chat(key, session_id, chat_id)
        except _Clash as clash:
            log.warning("not recorded: the id %s names both a session and a chat", clash)
            return None
        chat.pop("messages", None)  # the replay starts where the recording did
        reply = Reply()
        chat.setdefault("_replies", []).append(reply)
        return reply

    def seed(self) -> dict[str, Any]:
        accounts = []
        for number, account in enumerate(self._accounts, 1):
            sessions = []
            for session in account["sessions"]:
                chats = []
                for chat in session["chats"]:
                    entry = {k: v for k, v in chat.items() if not k.startswith("_")}
                    replies = [reply.chunks for reply in chat.get("_replies", []) if reply.complete]
                    if replies:
                        entry["answer"] = [{"type": "recorded", "replies": replies}]
                    chats.append(entry)
                sessions.append({**session, "chats": chats})
            accounts.append(
                {**account, "id": account["id"] or f"recorded-account-{number}", "sessions": sessions}
            )
        return {"accounts": accounts}

    def write(self) -> dict[str, Any]:
        """The seed file: YAML for `.yaml`/`.yml`, JSON otherwise; the seed written. One the mock
        would refuse (an upstream's ids that are not UUIDs, say) is written all the same, and why said."""
        seed = self.seed()
        try:
            validate_seed(seed, source=str(self.path))
        except SeedError as exc:
            log.error("the recording will not load as it is: %s", exc)
        if self.path.suffix.lower() in (".yaml", ".yml"):
            self.path.write_text(yaml.safe_dump(seed, sort_keys=False, allow_unicode=True), encoding="utf-8")
        else:
            self.path.write_text(json.dumps(seed, indent=1) + "\n", encoding="utf-8")
        return seed
