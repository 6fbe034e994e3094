"""Seed data: the built-in demo, user seed files (YAML or JSON), and loading either through the service.

A seed file is checked in full before anything is loaded, and a fault is reported with the file's
name and the place in it, never as a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from mock_server.domain.models import Account, Chat, Fault, Message, Session, is_uuid, new_id
from mock_server.domain.service import ChatService

Seed = dict[str, Any]

_UUID = {"type": "string", "format": "uuid"}
_TEXT_MESSAGE = {
    "type": "object",
    "required": ["role", "text"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "role": {"enum": ["system", "user", "assistant"]},
        "text": {"type": "string"},
    },
}
_UI_MESSAGE = {
    "type": "object",
    "required": ["role", "parts"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "role": {"enum": ["system", "user", "assistant"]},
        "parts": {"type": "array", "items": {"type": "object", "required": ["type"]}},
    },
}
_GENERATING = {
    "oneOf": [
        {"type": "boolean"},
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "text": {"type": "string", "minLength": 1},
                "repeat": {"type": "boolean"},
                "fault": {"enum": [f.value for f in Fault]},
            },
        },
    ]
}
SEED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["accounts"],
    "additionalProperties": False,
    "properties": {
        "accounts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "api_keys"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string", "minLength": 1},
                    "api_keys": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "string", "minLength": 1},
                    },
                    "sessions": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "id": _UUID,
                                "title": {"type": "string"},
                                "chats": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "properties": {
                                            "id": _UUID,
                                            "title": {"type": "string"},
                                            "messages": {
                                                "type": "array",
                                                "items": {"oneOf": [_TEXT_MESSAGE, _UI_MESSAGE]},
                                            },
                                            "generating": _GENERATING,
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}

DEMO_SEED: Seed = {
    "accounts": [
        {
            "id": "artist-a",
            "api_keys": ["demo-key-a"],
            "sessions": [
                {
                    "id": "aaaaaaaa-0000-4000-8000-000000000001",
                    "title": "Release plan",
                    "chats": [
                        {
                            "id": "11111111-1111-4111-8111-111111111111",
                            "title": "Idle chat",
                            "messages": [
                                {"role": "user", "text": "Which cities should the tour start in?"},
                                {
                                    "role": "assistant",
                                    "text": "Start where streams grew fastest: Berlin, then Lisbon.",
                                },
                            ],
                        },
                        {
                            "id": "22222222-2222-4222-8222-222222222222",
                            "title": "Generating chat",
                            "messages": [{"role": "user", "text": "Write a long press release."}],
                            "generating": {
                                "text": "This press release keeps streaming until someone presses Stop.",
                                "repeat": True,
                            },
                        },
                        {
                            "id": "55555555-5555-4555-8555-555555555504",
                            "title": "Stop times out (504)",
                            "generating": {
                                "text": "This answer ignores Stop; the stop answers 504 after its timeout.",
                                "fault": "ignore-cancel",
                            },
                        },
                        {
                            "id": "55555555-5555-4555-8555-555555555502",
                            "title": "Stop fails (502)",
                            "generating": {
                                "text": "Stopping this answer fails; the stop answers 502.",
                                "fault": "cancel-fails",
                            },
                        },
                    ],
                }
            ],
        },
        {
            "id": "artist-b",
            "api_keys": ["demo-key-b"],
            "sessions": [
                {
                    "id": "bbbbbbbb-0000-4000-8000-000000000001",
                    "title": "Merch ideas",
                    "chats": [{"id": "33333333-3333-4333-8333-333333333333", "title": "B's chat"}],
                }
            ],
        },
    ]
}


class SeedError(ValueError):
    """A seed that cannot be loaded; the message names the source and the fault."""


def read_seed_file(path: Path) -> Seed:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SeedError(f"seed file {path}: cannot be read: {exc}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SeedError(f"seed file {path}: not valid {_syntax(path)}: {exc}") from None
    return validate_seed(data, source=f"seed file {path}")


def _syntax(path: Path) -> str:
    return "JSON" if path.suffix.lower() == ".json" else "YAML"


def validate_seed(data: Any, *, source: str = "seed") -> Seed:
    """Return `data` when it is a loadable seed, else raise `SeedError` naming the first fault."""
    validator = jsonschema.Draft202012Validator(SEED_SCHEMA, format_checker=_uuid_format_checker())
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        where = _json_path(error.absolute_path)
        raise SeedError(f"{source}: {where}: {error.message}")
    for fault in _duplicates(data):
        raise SeedError(f"{source}: {fault}")
    seed: Seed = data
    return seed


def _uuid_format_checker() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker(formats=())
    checker.checks("uuid")(lambda value: not isinstance(value, str) or is_uuid(value))
    return checker


def _json_path(path: Any) -> str:
    text = "$"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _duplicates(seed: Seed) -> Iterator[str]:
    seen: dict[str, set[str]] = {"account id": set(), "api key": set(), "id": set()}
    for a, account in enumerate(seed["accounts"]):
        where = f"$.accounts[{a}]"
        yield from _once(seen["account id"], account["id"], f"{where}.id: account id")
        for k, key in enumerate(account["api_keys"]):
            yield from _once(seen["api key"], key, f"{where}.api_keys[{k}]: api key")
        for s, session in enumerate(account.get("sessions", [])):
            if "id" in session:
                yield from _once(seen["id"], session["id"], f"{where}.sessions[{s}].id: id")
            for c, chat in enumerate(session.get("chats", [])):
                if "id" in chat:
                    place = f"{where}.sessions[{s}].chats[{c}].id: id"
                    yield from _once(seen["id"], chat["id"], place)


def _once(seen: set[str], value: str, label: str) -> Iterator[str]:
    if value in seen:
        yield f"{label} {value!r} is used twice"
    seen.add(value)


def _message(entry: dict[str, Any]) -> Message:
    if "parts" in entry:
        return {"id": entry.get("id") or new_id(), **entry}
    return {
        "id": entry.get("id") or new_id(),
        "role": entry["role"],
        "parts": [{"type": "text", "text": entry["text"]}],
    }


DEFAULT_GENERATING_TEXT = "This answer keeps streaming until someone presses Stop."


async def apply_seed(service: ChatService, seed: Seed) -> None:
    """Add `seed`'s accounts, sessions, chats and messages; start its generations."""
    for account in seed["accounts"]:
        await service.add_account(Account(id=account["id"], api_keys=tuple(account["api_keys"])))
        for entry in account.get("sessions", []):
            session = Session(
                id=entry.get("id") or new_id(),
                account_id=account["id"],
                title=entry.get("title", "New session"),
            )
            await service.add_session(session)
            for chat_entry in entry.get("chats", []):
                chat = Chat(
                    id=chat_entry.get("id") or new_id(),
                    session_id=session.id,
                    title=chat_entry.get("title", "New chat"),
                )
                await service.add_chat(chat, [_message(m) for m in chat_entry.get("messages", [])])
                await _start_generating(service, chat, chat_entry.get("generating"))


async def _start_generating(service: ChatService, chat: Chat, spec: bool | dict[str, Any] | None) -> None:
    if not spec:
        return
    options = spec if isinstance(spec, dict) else {}
    fault = options.get("fault")
    await service.start_generation(
        chat.id,
        options.get("text", DEFAULT_GENERATING_TEXT),
        repeat=options.get("repeat", True),
        fault=Fault(fault) if fault else None,
    )
