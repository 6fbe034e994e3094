"""bench/ works against the mock: its seeds load, its raw stream client and wrk scripts see what they
should. Nothing here asserts a time: benchmarks print numbers."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
from pathlib import Path

import httpx
import pytest

from bench import agents, cli, pacing, parts, peers, procs, report, seeds, stop, streams, tools, workers, wrk
from bench.ceiling import BODY
from bench.ceiling import app as ceiling_app
from loopback import HOST, free_port
from mock_server.config import Config
from mock_server.domain.seed import validate_seed
from mock_server.http.app import create_app
from tests.asgi_server import serving


def test_every_seed_is_one_the_mock_accepts():
    for seed in (
        seeds.stop_seed().seed,
        seeds.mix_seed(threads=2).seed,
        seeds.streams_seed(150)[1],
        seeds.streams_seed(3, armed=False)[1],
        seeds.scale_seed(sessions=4, chats_per_session=3)[1],
        seeds.bare_seed(),
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
    shown = capsys.readouterr().out
    assert "(default: 10)" in shown
    for flag in ("--wiremock PATH", "--mockoon PATH", "--prism PATH", "--no-install", "--streams N"):
        assert flag in shown, flag
    assert "--prism-warmup" not in shown
    assert re.search(r"agents:\s+stop-\s*to-stream-end", shown) and "WireMock" in shown and "Mockoon" in shown
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


def test_one_warmup_for_every_server_and_the_report_says_so():
    args = cli.build_parser().parse_args([])
    assert args.warmup == 10 and not hasattr(args, "prism_warmup")
    line = cli.warmup_line(10, ["stop", "agents"])
    assert "every server (the mock included) gets the same unmeasured 10 s" in line
    assert "the agents measure runs without one" in line and "Prism" not in line
    assert "the streams, agents and pacing measures run without one" in cli.warmup_line(
        10, ["streams", "agents", "pacing"]
    )
    assert cli.warmup_line(0, ["stop"]).startswith("No server gets a warm-up")


def test_the_fastest_peer_is_the_clean_row_with_most_requests_a_second():
    rows = [
        report.Row("stop", "Prism", rps=2000, p50_ms=8, p99_ms=20, values={"non_2xx": 0}),
        report.Row("stop", "Mockoon 404s", rps=9000, p50_ms=1, p99_ms=2, values={"non_2xx": 90_000}),
        report.Row("stop", "WireMock", rps=3700, p50_ms=5, p99_ms=15, values={"non_2xx": 0}),
        report.Row("stop", "broken", other="FAILED: gone", values={"failed": True}),
        report.Row("stop", "refused", other="not measured: answers the stop 404", values={"status": 404}),
    ]
    peer = stop.fastest(rows)
    assert peer is not None and peer.subject == "WireMock"
    assert stop.fastest(rows[3:]) is None
    mocks = [
        report.Row("stop", "recoup-mock serve", rps=5550, p50_ms=5, p99_ms=15),
        report.Row("stop", "recoup-mock serve --quiet", rps=7400, p50_ms=4, p99_ms=6),
    ]
    ceiling = report.Row("stop", "ceiling", rps=37000, p50_ms=1, p99_ms=2)
    ratios = stop.ratio_rows(mocks, peer, ceiling)
    assert [r.subject for r in ratios] == [
        "mock (serve) ÷ fastest peer, WireMock",
        "mock (serve) ÷ ceiling",
        "mock (serve --quiet) ÷ fastest peer, WireMock",
        "mock (serve --quiet) ÷ ceiling",
    ]
    assert ratios[0].rps == pytest.approx(1.5) and ratios[2].rps == pytest.approx(2.0)
    x = report.TIMES
    assert ratios[0].other == f"target: req/s ≥ 1.50{x}, p99 ≤ 1.00{x}"
    assert ratios[2].other == f"target: req/s ≥ 2.00{x}"
    assert stop.ratio_rows(mocks[:1], None, None)[0].other == "no peer measured (see Tools)"


async def test_the_wiremock_stub_answers_the_stop_route_as_the_mock_does_an_idle_chat(tmp_path: Path):
    root = stop.wiremock_root(tmp_path)
    stub = json.loads((root / "mappings" / "stop.json").read_text())
    assert stub["request"]["method"] == "POST" and stub["response"]["status"] == 200
    assert stub["response"]["headers"] == {"Content-Type": "application/json"}
    pattern = re.compile(stub["request"]["urlPathPattern"])
    seed = seeds.stop_seed()
    assert pattern.fullmatch(f"/api/chat/{seed.chat}/stop") and not pattern.fullmatch("/api/chat/x/y/stop")
    transport = httpx.ASGITransport(app=create_app(Config(), seed.seed))
    async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
        answer = await client.post(f"/api/chat/{seed.chat}/stop", headers={"x-api-key": seeds.KEY_A})
    assert answer.status_code == 200
    assert json.loads(stub["response"]["body"]) == answer.json() == json.loads(BODY)


@pytest.mark.parametrize("name", ["WireMock", "Mockoon"])
def test_each_new_peer_found_here_answers_the_stop_with_200_as_bench_starts_it(tmp_path: Path, name: str):
    found = tools.detect(None, None, False, False, False)
    # Found, never installed: CI has no WireMock or Mockoon, and these tests skip there.
    (peers.find_wiremock if name == "WireMock" else peers.find_mockoon)(found, None, False)
    ctx = parts.Context(found, wrk.Load(), 0, tmp_path)
    chosen = [peer for peer in stop.peers(ctx) if peer.name.startswith(name)]
    if not chosen:
        pytest.skip(f"{name} (or its Java) is not installed here: {'; '.join(ctx.tools.notes)}")
    port = free_port()
    with procs.serving(chosen[0].name, chosen[0].command(port), port) as server:
        status, body = stop.ask_stop(server.base_url, f"/api/chat/{seeds.stop_seed().chat}/stop")
    assert status == 200, body
    assert json.loads(body)["success"] is True


def test_a_peer_that_does_not_answer_the_stop_with_200_is_noted_not_measured(tmp_path: Path):
    found = tools.detect(None, None, False, False, False)
    ctx = parts.Context(found, wrk.Load(), 0, tmp_path)
    port = free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", HOST]  # POST: 501
    row = stop._measured(ctx, "stop", "http.server", command, port, "/api/chat/x/stop", check=True)
    assert row.rps is None and row.other == "not measured: answers the stop 501, so no comparison"
    assert any(note.startswith("http.server: answers the stop 501") for note in found.notes)


async def test_agents_measure_sees_every_answer_end_after_its_stop():
    app = create_app(Config(first_token_delay=0.05, tokens_per_second=20), seeds.bare_seed())
    async with serving(app) as port:
        measured = await agents.measure(port, seeds.KEY_A, 3)
    result = measured.result
    assert (result.opened, result.ended, result.with_done, result.stopped_true) == (3, 3, 3, 3)
    assert measured.refused == {} and len(result.end_ms) == 3 and measured.stops_after_s > 0


def test_the_default_bound_on_generations_is_read_from_serve_help():
    text = "  --max-generations N   most answers generating at once; 429\n   beyond (default: 1000)"
    assert tools._max_generations(text) == 1000
    assert tools._max_generations("--quiet  for load tests (default: False)") is None
