"""bench/ works against the mock: its seeds load, its raw stream client and wrk scripts see what they
should. Nothing here asserts a time: benchmarks print numbers."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import httpx
import pytest

from bench import cli, pacing, report, seeds, streams, wrk
from bench.ceiling import BODY
from bench.ceiling import app as ceiling_app
from mock_server.config import Config
from mock_server.domain.seed import validate_seed
from mock_server.http.app import create_app
from tests.loopback import serving


def test_every_seed_is_one_the_mock_accepts():
    for seed in (
        seeds.stop_seed().seed,
        seeds.mix_seed(threads=2).seed,
        seeds.streams_seed(150)[1],
        seeds.scale_seed(sessions=4, chats_per_session=3)[1],
    ):
        validate_seed(seed)


def test_scale_seed_has_the_chats_asked_for_in_two_accounts():
    session, seed = seeds.scale_seed(sessions=5, chats_per_session=7)
    sessions = [s for account in seed["accounts"] for s in account["sessions"]]
    assert len(seed["accounts"]) == 2 and len(sessions) == 5
    assert {len(s["chats"]) for s in sessions} == {7}
    assert session in {s["id"] for s in seed["accounts"][0]["sessions"]}


async def test_the_ceiling_answers_the_idle_stop_body():
    transport = httpx.ASGITransport(app=ceiling_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ceiling") as client:
        answer = await client.post("/api/chat/x/stop")
    assert answer.status_code == 200 and answer.content == BODY


async def test_streams_measure_sees_every_stream_end_after_its_stop():
    chats, seed = seeds.streams_seed(5)
    app = create_app(Config(first_token_delay=0.05, tokens_per_second=20), seed)
    async with serving(app) as port:
        result = await streams.measure(port, chats, seeds.KEY_A)
    assert (result.opened, result.ended, result.with_done, result.stopped_true) == (5, 5, 5, 5)
    assert len(result.stop_answer_ms) == 5


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
async def test_the_mix_script_reaches_every_kind_of_chat(tmp_path: Path):
    mix = seeds.mix_seed(threads=1)
    ids = mix.lua_file(tmp_path / "mix.txt")
    app = create_app(Config(), mix.seed)
    load = wrk.Load(threads=1, connections=4, duration=1)
    async with serving(app) as port:
        url = f"http://127.0.0.1:{port}"
        result = await asyncio.to_thread(wrk.run, "wrk", url, "mix", [str(ids), seeds.KEY_A, "1"], load)
    tally = result.tally
    assert result.requests > 0 and result.socket_errors == 0 and tally.get("other", 0) == 0, tally
    for kind in ("stopped_true", "stopped_false", "forbidden", "not_found"):
        assert tally.get(kind, 0) > 0, tally


def test_ratio_rows_divide_column_by_column_and_the_table_shows_them():
    mock = report.Row("stop", "mock", rps=3000, p50_ms=4, p99_ms=10)
    prism = report.Row("stop", "prism", rps=2000, p50_ms=8, p99_ms=20)
    ratio = report.ratio_row("  ratio", "mock ÷ Prism", mock, prism)
    assert ratio is not None and (ratio.rps, ratio.p50_ms, ratio.p99_ms) == (1.5, 0.5, 0.5)
    assert report.ratio_row("  ratio", "x", mock, report.Row("stop", "failed")) is None
    text = report.table([mock, prism, ratio])
    assert "1.50\u00d7" in text and "3,000" in text


def test_wrk_result_line_is_read_in_milliseconds():
    line = (
        '{"requests":1000,"duration_us":2000000,"p50_us":1500,"p90_us":2000,"p99_us":9000,"max_us":12000,'
        '"connect":0,"read":1,"write":0,"status":3,"timeout":2,"tally":{"armed":4}}'
    )
    result = wrk.WrkResult.parse(line)
    assert (result.rps, result.p50_ms, result.p99_ms) == (500, 1.5, 9)
    assert (result.socket_errors, result.non_2xx, result.tally) == (3, 3, {"armed": 4})


def test_cli_documents_its_defaults_and_refuses_unknown_parts(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(["--help"])
    assert exited.value.code == 0
    assert "(default: 10)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["--parts", "stop,nope"])
    assert cli.build_parser().parse_args([]).parts == list(cli.PARTS)


async def test_pacing_measure_times_every_part_of_an_answer():
    app = create_app(
        Config(first_token_delay=0.05, tokens_per_second=200, tool_seconds=0.1), seeds.stop_seed().seed
    )
    async with serving(app) as port:
        result = await pacing.measure(port, seeds.KEY_A, 2)
    summary = result.summary()
    assert set(summary) == {
        "first_content_s",
        "reasoning_deltas_per_s",
        "text_deltas_per_s",
        "tool_wait_s",
        "answer_s",
    }
    assert all(value > 0 for value in summary.values()), summary
    assert summary["first_content_s"] < summary["answer_s"]
