"""Seed data: the demo, the documented file format, and clear refusals of malformed files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from contract_tests.client import ChatRef, RecoupClient
from mock_server.domain.demo import DEMO_SEED
from mock_server.domain.seed import SeedError, read_seed_file, validate_seed
from mock_server.http.app import create_app
from tests.conftest import CONFORMANCE, TEST_CONFIG

MINIMAL_YAML = """\
accounts:
  - id: artist-a
    api_keys: [key-a]
  - id: artist-b
    api_keys: [key-b]
"""

FULL_YAML = """\
accounts:
  - id: label
    api_keys: [label-key, label-key-2]
    sessions:
      - id: 5f0c7f43-8f5e-4d7e-9a53-0a4a2c1d9b10
        title: Single launch
        chats:
          - id: 7d1e2c3b-4a5f-4e6d-8c7b-9a0b1c2d3e4f
            title: Busy
            messages:
              - {role: user, text: Draft the announcement}
            generating: {text: "Long answer", repeat: true}
          - id: 8e2f3d4c-5b6a-4f7e-9d8c-0b1c2d3e4f50
"""


async def client_for(seed: dict, key: str) -> tuple[object, RecoupClient]:
    app = create_app(TEST_CONFIG, seed)
    await app.runtime.start()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock")
    return app, RecoupClient(http, key, CONFORMANCE)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_demo_seed_is_valid():
    assert validate_seed(DEMO_SEED) is DEMO_SEED


async def test_minimal_seed_file_gives_working_keys(tmp_path: Path):
    seed = read_seed_file(write(tmp_path, "seed.yaml", MINIMAL_YAML))
    app, api = await client_for(seed, "key-b")
    try:
        chat = await api.create_chat()
        assert (await api.stop(chat.chat_id)).json() == {"success": True, "stopped": False}
    finally:
        await app.runtime.close()


async def test_seeded_generating_chat_can_be_stopped(tmp_path: Path):
    seed = read_seed_file(write(tmp_path, "seed.yaml", FULL_YAML))
    app, api = await client_for(seed, "label-key-2")
    try:
        response = await api.request(
            "GET",
            "/api/sessions/5f0c7f43-8f5e-4d7e-9a53-0a4a2c1d9b10/chats/7d1e2c3b-4a5f-4e6d-8c7b-9a0b1c2d3e4f",
        )
        body = response.json()
        assert body["isStreaming"] is True
        assert body["messages"][0]["parts"] == [{"type": "text", "text": "Draft the announcement"}]
        stop = await api.stop("7d1e2c3b-4a5f-4e6d-8c7b-9a0b1c2d3e4f")
        assert stop.json() == {"success": True, "stopped": True}
        idle = await api.stop("8e2f3d4c-5b6a-4f7e-9d8c-0b1c2d3e4f50")
        assert idle.json() == {"success": True, "stopped": False}
    finally:
        await app.runtime.close()


def test_json_seed_file_is_accepted(tmp_path: Path):
    seed = {"accounts": [{"id": "a", "api_keys": ["k"]}]}
    assert read_seed_file(write(tmp_path, "seed.json", json.dumps(seed))) == seed


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("accounts: [", "not valid YAML"),
        ("accounts:\n  - id: a\n", "$.accounts[0]: 'api_keys' is a required property"),
        ("accounts:\n  - id: a\n    api_keys: key\n", "$.accounts[0].api_keys: 'key' is not of type 'array'"),
        ("users: []\n", "'accounts' is a required property"),
        (
            "accounts:\n  - {id: a, api_keys: [k]}\n  - {id: b, api_keys: [k]}\n",
            "$.accounts[1].api_keys[0]: api key 'k' is used twice",
        ),
        (
            "accounts:\n  - id: a\n    api_keys: [k]\n    sessions:\n      - chats:\n          - id: nope\n",
            "$.accounts[0].sessions[0].chats[0].id: 'nope' is not a 'uuid'",
        ),
        (
            "accounts:\n  - id: a\n    api_keys: [k]\n    sessions:\n      - chats:\n"
            "          - generating: {fault: explode}\n",
            "generating",
        ),
        (
            "answer:\n  - {type: tool, name: t, input: {}, seconds: -2}\naccounts: []\n",
            "$.answer[0]: tool part.seconds: -2 is less than the minimum of 0",
        ),
        (
            "accounts:\n  - id: a\n    api_keys: [k]\n    sessions:\n      - chats:\n"
            "          - answer: [{type: text}]\n",
            "$.accounts[0].sessions[0].chats[0].answer[0]: text part: 'text' is a required property",
        ),
        (
            "accounts:\n  - id: a\n    api_keys: [k]\n    sessions:\n      - chats:\n"
            "          - generating: {parts: [{type: song}]}\n",
            "$.accounts[0].sessions[0].chats[0].generating.parts[0]: type must be one of",
        ),
    ],
)
def test_malformed_seed_file_is_refused_naming_file_and_fault(tmp_path: Path, text: str, fault: str):
    path = write(tmp_path, "broken.yaml", text)
    with pytest.raises(SeedError) as caught:
        read_seed_file(path)
    message = str(caught.value)
    assert message.startswith(f"seed file {path}: ")
    assert fault in message


def test_missing_seed_file_is_refused(tmp_path: Path):
    with pytest.raises(SeedError, match="cannot be read"):
        read_seed_file(tmp_path / "absent.yaml")


def test_serve_refuses_a_malformed_seed_without_a_traceback(tmp_path: Path):
    path = write(tmp_path, "broken.yaml", "accounts:\n  - id: a\n")
    result = subprocess.run(
        [sys.executable, "-m", "mock_server.cli", "serve", "--seed", str(path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert str(path) in result.stderr and "api_keys" in result.stderr
    assert "Traceback" not in result.stderr


SCRIPTED = """\
answer:
  - {type: text, text: Everyone gets this.}
accounts:
  - id: a
    api_keys: [key-a]
    sessions:
      - id: 5f0c7f43-8f5e-4d7e-9a53-0a4a2c1d9b10
        chats:
          - id: 7d1e2c3b-4a5f-4e6d-8c7b-9a0b1c2d3e4f
            answer:
              - {type: reasoning, text: Hmm.}
              - {type: tool, name: lookup, input: {q: 1}, error: Not found, seconds: 0}
              - {type: data, name: chart, data: [1, 2]}
              - {type: text, text: This chat answers so.}
          - id: 8e2f3d4c-5b6a-4f7e-9d8c-0b1c2d3e4f50
          - id: 9f3a4e5d-6c7b-4a8f-8e9d-1c2d3e4f5061
            generating:
              parts: [{type: tool, name: slow, input: {}, output: 1, seconds: 60}]
"""


async def test_seeded_answers_script_what_each_chat_answers(tmp_path: Path):
    seed = read_seed_file(write(tmp_path, "scripted.yaml", SCRIPTED))
    app, api = await client_for(seed, "key-a")
    session = "5f0c7f43-8f5e-4d7e-9a53-0a4a2c1d9b10"
    try:
        for chat_id, types, text in [
            (
                "7d1e2c3b-4a5f-4e6d-8c7b-9a0b1c2d3e4f",
                {"reasoning-delta", "tool-output-error", "data-chart"},
                "This chat answers so.",
            ),
            ("8e2f3d4c-5b6a-4f7e-9d8c-0b1c2d3e4f50", {"text-delta"}, "Everyone gets this."),
        ]:
            chat = ChatRef(session, chat_id)
            log = await api.read_stream("POST", "/api/chat", json=api.send_body(chat, "hi"))
            assert types <= set(log.types())
            assert log.text == text
        generating = ChatRef(session, "9f3a4e5d-6c7b-4a8f-8e9d-1c2d3e4f5061")
        assert (await api.chat_state(generating))["isStreaming"] is True
    finally:
        await app.runtime.close()  # type: ignore[attr-defined]
        await api.http.aclose()
