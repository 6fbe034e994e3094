"""`recoup-mock serve --workers 2` on a real `redis-server`, stopped again and again with answers
streaming from both workers: each time the whole process tree exits within `--shutdown-timeout`,
as a service manager that kills what overruns expects, and every stream is ended, not left open."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from tests.test_server import assert_ended_by_shutdown, new_answer_stream
from tests.test_workers import FAST, WAIT, alive, supervised

RUNS = 10
STREAMS = 30
"""Answers streaming at each SIGTERM, each with its tool call running, spread over both workers."""
SHUTDOWN_TIMEOUT = 2.0


@pytest.mark.slow
async def test_ten_sigterms_with_open_streams_each_exit_within_the_shutdown_timeout(
    redis_store_flags: tuple[str, ...],
):
    flags = (*redis_store_flags, *FAST, "--tool-seconds", "60", "--shutdown-timeout", str(SHUTDOWN_TIMEOUT))
    took, cut = [], 0
    for _ in range(RUNS):
        with supervised(*flags) as served:
            pids = served.worker_pids(2)
            streams = await asyncio.gather(*(new_answer_stream(served.port) for _ in range(STREAMS)))
            signalled = time.monotonic()
            served.process.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(served.process.wait, WAIT)
            took.append(time.monotonic() - signalled)
            await asyncio.gather(*(s.connection.stream_to_end(s.response) for s in streams))
            assert code == 0, served.log.text()
            assert not any(map(alive, pids)), "no worker outlives the parent"
            killed = "killing it" in served.log.text()
        for stream in streams:
            stream.connection.close()
            if killed and not stream.response.complete:
                cut += 1  # a worker starved past the timeout was killed: its streams are cut
            else:
                assert_ended_by_shutdown(stream)
    assert max(took) < SHUTDOWN_TIMEOUT, f"exits took {[round(t, 2) for t in took]} s"
    assert cut < RUNS * STREAMS / 2, f"{cut} of {RUNS * STREAMS} streams were cut, not ended"
