"""The Redis store's records read back as they were written, including a chat written before its
title and model moved out of the record into fields of their own."""

from __future__ import annotations

import json

from mock_server.domain.models import Chat, new_id
from mock_server.domain.store import records


def fields_of(chat: Chat) -> dict[str, str]:
    return {
        "record": records.chat_text(chat),
        "session": chat.session_id,
        "active": "",
        "updated": chat.updated_at,
        "last": "",
        "title": chat.title,
        "model": chat.model_id,
    }


def test_a_chat_reads_back_as_it_was_written():
    chat = Chat(id=new_id(), session_id=new_id(), title="Tour", model_id="m-1")
    assert records.chat_of(fields_of(chat)) == chat
    assert "title" not in json.loads(records.chat_text(chat)), "the title is kept beside the record"


def test_a_chat_written_with_its_title_in_the_record_still_reads():
    chat = Chat(id=new_id(), session_id=new_id(), title="Old", model_id="m-0")
    fields = fields_of(chat)
    record = json.loads(fields.pop("record"))
    del fields["title"], fields["model"]
    fields["record"] = json.dumps({**record, "title": "Old", "model_id": "m-0"})
    assert records.chat_of(fields) == chat
