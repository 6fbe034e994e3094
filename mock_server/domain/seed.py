"""Seed data: the built-in demo, user seed files (YAML or JSON), and loading either through the service.

A seed file is checked in full before anything is loaded, and a fault is reported with the file's
name and the place in it, never as a traceback.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from mock_server.domain.answers import Answer, answer_problems, parse_answer, text_only
from mock_server.domain.models import Account, Chat, Fault, Message, Session, is_uuid, new_id
from mock_server.domain.service import UNTIL_STOPPED, ChatService
from mock_server.domain.store.space import chat_size, message_size

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
# Scripted answers are checked by `answers.answer_problems`, whose messages name the part at fault.
_ANSWER = {"type": "array"}
_EITHER_TEXT_OR_PARTS = {"anyOf": [{"required": ["text", "parts"]}, {"required": ["repeat", "parts"]}]}
_NOT_MESSAGES = {id(_EITHER_TEXT_OR_PARTS): "give `parts`, or `text` (with `repeat`), not both"}
_GENERATING = {
    "oneOf": [
        {"type": "boolean"},
        {
            "type": "object",
            "additionalProperties": False,
            "not": _EITHER_TEXT_OR_PARTS,
            "properties": {
                "text": {"type": "string", "minLength": 1},
                "repeat": {"type": "boolean"},
                "parts": _ANSWER,
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
        "answer": _ANSWER,
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
                    "acts_for": {
                        "description": "Accounts its keys may act for with `?account_id=`.",
                        "type": "array",
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
                                            "answer": _ANSWER,
                                            "generating": _GENERATING,
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
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
    for fault in _not_json(data):
        raise SeedError(f"{source}: {fault}")
    validator = jsonschema.Draft202012Validator(SEED_SCHEMA, format_checker=_uuid_format_checker())
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        where = _json_path(error.absolute_path)
        message = _NOT_MESSAGES.get(id(error.validator_value), error.message)
        raise SeedError(f"{source}: {where}: {message}")
    for fault in itertools.chain(_duplicates(data), _answer_problems(data)):
        raise SeedError(f"{source}: {fault}")
    seed: Seed = data
    return seed


def _not_json(data: Any) -> Iterator[str]:
    """The first value that JSON cannot carry (a YAML date, NaN, Infinity), with its place."""
    pending: list[tuple[Any, list[Any]]] = [(data, [])]
    while pending:
        value, path = pending.pop()
        if isinstance(value, dict):
            pending.extend((item, [*path, key]) for key, item in value.items() if isinstance(key, str))
            if any(not isinstance(key, str) for key in value):
                yield f"{_json_path(path)}: keys must be strings"
                return
        elif isinstance(value, list):
            pending.extend((item, [*path, index]) for index, item in enumerate(value))
        elif isinstance(value, float) and not math.isfinite(value):
            yield f"{_json_path(path)}: {value} is not a JSON number"
            return
        elif value is not None and not isinstance(value, str | int | float | bool):
            yield f"{_json_path(path)}: a {type(value).__name__} is not JSON data (quote it as a string)"
            return


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


def _answer_problems(seed: Seed) -> Iterator[str]:
    if "answer" in seed:
        yield from answer_problems(seed["answer"], "$.answer")
    for a, account in enumerate(seed["accounts"]):
        for s, session in enumerate(account.get("sessions", [])):
            for c, chat in enumerate(session.get("chats", [])):
                where = f"$.accounts[{a}].sessions[{s}].chats[{c}]"
                if "answer" in chat:
                    yield from answer_problems(chat["answer"], f"{where}.answer")
                generating = chat.get("generating")
                if isinstance(generating, dict) and "parts" in generating:
                    yield from answer_problems(generating["parts"], f"{where}.generating.parts")


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


def generating_answer(options: dict[str, Any]) -> Answer | None:
    """The answer of a generation started from a seed or the admin API: `{parts}`, or `{text, repeat}`
    (a text that repeats until stopped unless `repeat` is false); None when neither is given."""
    if "parts" in options:
        return parse_answer(options["parts"], "$.parts")
    if "text" in options or "repeat" in options:
        return text_only(options.get("text", UNTIL_STOPPED), repeat=options.get("repeat", True))
    return None


async def apply_seed(service: ChatService, seed: Seed) -> None:
    """Add `seed`'s accounts, sessions, chats and messages; start its generations."""
    if "answer" in seed:
        await service.set_default_answer(parse_answer(seed["answer"]))
    for account in seed["accounts"]:
        await service.add_account(
            Account(
                id=account["id"],
                api_keys=tuple(account["api_keys"]),
                acts_for=tuple(account.get("acts_for", ())),
            )
        )
        for entry in account.get("sessions", []):
            session = Session(
                id=entry.get("id") or new_id(),
                account_id=account["id"],
                title=entry.get("title", "New session"),
            )
            await service.add_session(session)
            for chat_entry in entry.get("chats", []):
                chat = _chat(chat_entry, session.id)
                await service.add_chat(chat, [_message(m) for m in chat_entry.get("messages", [])])
                await _start_generating(service, chat, chat_entry.get("generating"))


def seed_bytes(seed: Seed) -> int:
    """The bytes the seed's chats and messages take in a store (see `store.space`)."""
    total = 0
    for account in seed["accounts"]:
        for entry in account.get("sessions", []):
            for chat_entry in entry.get("chats", []):
                total += chat_size(_chat(chat_entry, entry.get("id") or new_id()))
                total += sum(message_size(_message(m)) for m in chat_entry.get("messages", []))
    return total


def too_large(seed: Seed, max_bytes: int) -> str | None:
    """Why the seed cannot be loaded within `max_bytes` (0: no bound), or None when it fits."""
    needed = seed_bytes(seed) if max_bytes else 0
    if needed <= max_bytes:
        return None
    return f"the seed's chats and messages take {needed:,} bytes, more than --max-store-bytes ({max_bytes:,})"


def _chat(entry: dict[str, Any], session_id: str) -> Chat:
    return Chat(
        id=entry.get("id") or new_id(),
        session_id=session_id,
        title=entry.get("title", "New chat"),
        answer=parse_answer(entry["answer"]) if "answer" in entry else None,
    )


async def _start_generating(service: ChatService, chat: Chat, spec: bool | dict[str, Any] | None) -> None:
    if not spec:
        return
    options = spec if isinstance(spec, dict) else {}
    fault = options.get("fault")
    await service.generate(chat.id, generating_answer(options), fault=Fault(fault) if fault else None)
