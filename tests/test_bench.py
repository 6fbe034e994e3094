"""bench/ works against the mock: its seeds load, its raw stream client and wrk scripts see what they
should. Nothing here asserts a time: benchmarks print numbers."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import httpx
import pytest

from bench import cli, pacing, parts, procs, report, seeds, streams, tools, workers, wrk
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
        seeds.streams_seed(3, armed=False)[1],
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
    # Seconds enough for a loaded CI machine to reach every kind of chat.
    load = wrk.Load(threads=1, connections=4, duration=3)
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


def test_the_workers_part_measures_redis_workers_beside_memory_and_leaves_nothing_running(tmp_path: Path):
    if shutil.which("redis-server") is None:
        if os.environ.get("RECOUP_MOCK_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server is not installed, and RECOUP_MOCK_REQUIRE_REDIS=1")
        pytest.skip("redis-server is not installed (RECOUP_MOCK_REQUIRE_REDIS=1 makes this a failure)")
    before = set(procs.descendants(os.getpid()))
    found = tools.detect(None, None, False, True, False)
    load = wrk.Load(threads=1, connections=2, duration=1)
    ctx = parts.Context(found, load, 0, tmp_path, streams=3, workers_counts=(2,))
    rows = workers.workers_part(ctx)
    assert set(procs.descendants(os.getpid())) <= before, "a server, worker or redis-server is still running"
    assert "redis-server" in found.versions
    throughput = [r for r in rows if r.measure.startswith("workers: stop, idle")]
    latency = [r for r in rows if r.measure.startswith("workers: stop →")]
    subjects = ["recoup-mock --quiet, memory store", "recoup-mock --workers 2 --store redis:// --quiet"]
    for measured in (throughput, latency):
        assert [r.subject for r in measured] == subjects, [r.other for r in measured]
    for row in latency:
        assert (row.values["armed"], row.values["ended"], row.values["stopped_true"]) == (3, 3, 3), row.other
        assert row.p50_ms is not None and row.p99_ms is not None
    ratios = [r for r in rows if r.ratio]
    assert any(r.p50_ms is not None and r.rps is None for r in ratios), ratios
    if found.wrk:
        assert all(r.rps and not r.values.get("failed") for r in throughput), [r.other for r in throughput]
        assert any(r.rps is not None for r in ratios), ratios


def test_workers_counts_default_to_1_2_4_and_refuse_what_is_not_a_count():
    parser = cli.build_parser()
    assert parser.parse_args([]).workers_counts == (1, 2, 4)
    assert parser.parse_args(["--workers-counts", "2, 1,2"]).workers_counts == (2, 1)
    for wrong in ("0", "1,x", ","):
        with pytest.raises(SystemExit):
            parser.parse_args(["--workers-counts", wrong])
