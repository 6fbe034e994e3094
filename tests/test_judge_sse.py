"""The judge reads an event stream as a browser does, however its bytes are cut, and a proxy's
forwarding keeps only the end-to-end fields."""

from __future__ import annotations

from contract_judge.sse import EventParser, parse_sse
from mock_server.proxy.forwarding import Decoder, end_to_end

STREAM = '\ufeff: comment\r\nevent: x\r\ndata: {"type":"start"}\r\n\r\ndata: a\ndata: b\n\ndata: [DONE]\r\r'


def test_events_are_the_same_however_the_stream_is_cut():
    whole = parse_sse(STREAM)
    assert whole == [{"data": '{"type":"start"}', "event": "x"}, {"data": "a\nb"}, {"data": "[DONE]"}]
    for size in (1, 2, 3, 7):
        parser = EventParser()
        events = [
            e for start in range(0, len(STREAM), size) for e in parser.feed(STREAM[start : start + size])
        ]
        assert events + parser.end() == whole, size


def test_an_event_is_given_once_its_blank_line_has_come():
    parser = EventParser()
    assert parser.feed("data: x\r\n") == []
    assert parser.feed("\r") == [], "a CR may be half of a CRLF"
    assert parser.feed("\n") == [{"data": "x"}]


def test_hop_by_hop_fields_and_those_connection_names_go_and_via_gains_the_proxy():
    fields = end_to_end(
        [
            ("Connection", "close, X-Trace"),
            ("X-Trace", "1"),
            ("Keep-Alive", "5"),
            ("Via", "1.0 edge"),
            ("A", "b"),
        ]
    )
    assert fields == [("A", "b"), ("via", "1.0 edge, 1.1 recoup-mock")]


def test_a_coding_the_proxy_cannot_read_is_forwarded_unjudged():
    assert not Decoder("br").readable and Decoder("br").decode(b"x") is None
    assert Decoder(None).decode(b"x") == b"x" and Decoder("identity").readable
