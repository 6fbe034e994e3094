"""The judge reads an event stream as a browser does, however its bytes are cut; a chunk is judged
by its type's branch exactly as by the whole schema; a proxy's forwarding keeps only the end-to-end
fields and asks for codings it can read."""

from __future__ import annotations

import gzip
import itertools

from contract_judge.sse import EventParser, parse_sse
from contract_judge.streams import ChunkSchema
from mock_server.domain.answers import agent_answer
from mock_server.domain.chunks import answer_chunks
from mock_server.http.spec import load_document
from mock_server.proxy.forwarding import Decoder, end_to_end, readable_codings

STREAM = '\ufeff: comment\r\nevent: x\r\ndata: {"type":"start"}\r\n\r\ndata: a\ndata: b\n\ndata: [DONE]\r\r'


def test_events_are_the_same_however_the_stream_is_cut():
    whole = parse_sse(STREAM)
    assert whole == [{"data": '{"type":"start"}', "event": "x"}, {"data": "a\nb"}, {"data": "[DONE]"}]
    for size in (1, 2, 3, 7):
        parser = EventParser()
        pieces = [STREAM[start : start + size] for start in range(0, len(STREAM), size)]
        events = [event for piece in pieces for event in parser.feed(piece)]
        assert events + parser.end() == whole, size


def test_an_event_is_given_once_its_blank_line_has_come():
    parser = EventParser()
    assert parser.feed("data: x\r\n") == []
    assert parser.feed("\r") == [], "a CR may be half of a CRLF"
    assert parser.feed("\n") == [{"data": "x"}]


def test_retry_is_a_number_of_digits_or_nothing():
    assert parse_sse("retry: 3000\ndata: x\n\n") == [{"data": "x", "retry": 3000}]
    assert parse_sse("retry: 3s\ndata: x\n\n") == [{"data": "x"}]


def test_a_character_cut_between_two_pieces_is_read_whole():
    text = "data: café\n\n".encode()
    decoder = Decoder(None)
    cut = text.index("é".encode()) + 1
    assert decoder.decode(text[:cut]) + (decoder.decode(text[cut:], final=True) or "") == "data: café\n\n"
    zipped = Decoder("gzip")
    assert zipped.decode(gzip.compress(text), final=True) == "data: café\n\n"


def test_a_chunk_is_judged_by_its_types_branch_as_by_the_whole_schema():
    document = load_document()
    schema = ChunkSchema(document)
    chunks = list(answer_chunks("m1", agent_answer("hello")))
    variants = [{}, {"extra": 1}, {"id": 5}, {"delta": None}, {"toolCallId": []}, {"type": "nope"}]
    whole = schema._validator
    for chunk, change in itertools.product(chunks, variants):
        changed = {**chunk, **change}
        for candidate in (changed, {k: v for k, v in chunk.items() if k not in ("id", "toolCallId")}):
            by_branch = schema.problem(candidate) is None
            assert by_branch == whole.is_valid(candidate), candidate


def test_hop_by_hop_fields_and_those_connection_names_go_and_via_gains_the_proxy():
    hop = [(b"Connection", b"close, X-Trace"), (b"X-Trace", b"1"), (b"Keep-Alive", b"5")]
    fields = end_to_end([*hop, (b"Via", b"1.0 edge"), (b"A", "é".encode())], "1.1")
    assert fields == [(b"A", "é".encode()), (b"via", b"1.0 edge, 1.1 recoup-mock")]


def test_the_upstream_is_asked_only_for_codings_the_judge_reads():
    assert readable_codings(b"gzip, deflate, br, zstd") == b"gzip, deflate"
    assert readable_codings(b"br") == b"identity" and readable_codings(None) == b"identity"
    assert readable_codings(b"*;q=0.5") == b"gzip, deflate"


def test_a_coding_the_proxy_cannot_read_is_forwarded_unjudged():
    assert not Decoder("br").readable and Decoder("br").decode(b"x") is None
    assert Decoder(None).decode(b"x") == "x" and Decoder("identity").readable
