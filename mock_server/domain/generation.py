"""Running generations: each is an asyncio task that writes an answer's chunks to the store.

The task paces its chunks as a hosted model would (a time to first token, then a token rate, and
a tool's running time) and waits on the store's cancel signal rather than sleeping, so a stop
requested from any process ends the stream at once. Cancelling means: request it through the
store, then wait until the task has finished. Nothing here knows about HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from mock_server.domain import chunks as ui
from mock_server.domain import tasks
from mock_server.domain.answers import Answer
from mock_server.domain.errors import ChatBusy, StopFailed, StopTimedOut, StoreFull, StoreUnavailable
from mock_server.domain.models import DEFAULT_MODEL_ID, Chunk, Fault, Run, RunStatus, new_id
from mock_server.domain.store import ChatStore, RunForgotten

log = logging.getLogger(__name__)

RESET_GRACE = 1.0
"""Seconds a reset gives the running answers to end as stopped before it forgets them."""

BROKE_OFF = "The stream broke off"
"""The `errorText` of a run with the `break-stream` fault."""
SHUTTING_DOWN = "The server is shutting down"
"""The `errorText` of a run that the server's shutdown had to end (it ignored the cancel)."""
FAILED = "The mock failed to generate this answer"
"""The `errorText` of an answer a fault in the mock itself ended (logged with its traceback)."""


@dataclass(frozen=True)
class Pacing:
    """How fast answers stream."""

    first_token: float
    """Seconds before the first content of each step (a model's time to first token)."""
    tokens_per_second: float
    """Deltas per second after that; 0 sends them without pause."""
    tool_seconds: float
    """How long a tool call runs when its script does not say."""
    replay_speed: float = 1.0
    """How much faster than recorded a recorded answer replays (2: in half the time)."""

    def delay(self, step: ui.Step) -> float:
        if step.wait is ui.Wait.FIRST:
            return self.first_token
        if step.wait is ui.Wait.TOKEN:
            return 1 / self.tokens_per_second if self.tokens_per_second > 0 else 0.0
        if step.wait is ui.Wait.TOOL:
            return self.tool_seconds if step.seconds is None else step.seconds
        if step.wait is ui.Wait.RECORDED:
            return (step.seconds or 0.0) / self.replay_speed
        return 0.0


class _Clock:
    """When each chunk is due: deltas on a schedule of the token rate from the last first token or
    tool result, so time spent storing and sending chunks does not slow the rate down."""

    def __init__(self) -> None:
        self._due = time.monotonic()

    def wait(self, step: ui.Step, pacing: Pacing) -> float:
        """Seconds to wait before `step`'s chunk."""
        now = time.monotonic()
        if step.wait in (ui.Wait.TOKEN, ui.Wait.RECORDED):  # on the schedule, however long sending took
            self._due += pacing.delay(step)
        else:
            self._due = now + pacing.delay(step)
        return max(0.0, self._due - now)


class Generations:
    """Starts, paces, cancels and finishes the generations of one store."""

    def __init__(
        self,
        store: ChatStore,
        *,
        pacing: Pacing,
        stop_timeout: float,
        max_running: int = 1000,
        retention: float = 60.0,
        max_messages: int = 0,
        lease: float = 5.0,
    ) -> None:
        self.store = store
        self.pacing = pacing
        self.stop_timeout = stop_timeout
        self.max_running = max_running
        """How many generations may run at once in this process (0: no bound)."""
        self.retention = retention
        """Seconds a finished run's chunks stay readable before they are freed."""
        self.max_messages = max_messages
        """Messages kept per chat when an answer is saved (0: all)."""
        self.lease = lease
        """Seconds within which a run is taken over once its process stops renewing it (see
        `leases`)."""
        self._tasks: dict[str, asyncio.Task[None]] = {}
        """This process's running generations, by run id."""
        self._closing = False
        """Set by `cancel_all`: the server is shutting down, a run that starts now is stopped at once."""
        self._ended_by_shutdown: set[str] = set()
        self._abandoned: set[str] = set()

    @property
    def hold(self) -> float:
        """Seconds a run's start, and each renewal, hold it: half a lease (see `leases`)."""
        return self.lease / 2

    @property
    def running(self) -> int:
        return len(self._tasks)

    def running_ids(self) -> list[str]:
        """The ids of the runs this process is generating."""
        return list(self._tasks)

    def is_local(self, run_id: str) -> bool:
        """Whether this process generates the run."""
        return run_id in self._tasks

    def full(self) -> bool:
        return 0 < self.max_running <= self.running

    async def start(
        self,
        chat_id: str,
        claim: str,
        answer: Answer,
        *,
        fault: Fault | None = None,
        model_id: str = DEFAULT_MODEL_ID,
    ) -> Run:
        """Start generating `answer` for a chat that `claim` (a pending id) holds; return the run."""
        run = Run(
            id=f"run_{new_id().replace('-', '')}",
            chat_id=chat_id,
            message_id=f"msg_{new_id().replace('-', '')}",
            answer=answer,
            fault=fault,
            model_id=model_id,
        )
        await self.store.add_run(run, self.hold)
        if not await self.store.swap_active_stream(chat_id, claim, run.id):
            await self.store.finish_run(run.id, RunStatus.CANCELLED, keep_for=self.retention)
            raise ChatBusy("The chat was stopped before its response started")
        task = asyncio.create_task(self._generate(run), name=run.id)
        self._tasks[run.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(run.id, None))
        if self._closing:
            await self.store.request_cancel(run.id)
        return run

    async def cancel(self, run_id: str) -> bool:
        """Stop a run and wait until it has finished; True for the caller whose request stopped it.

        Raises `StopFailed` when the cancel request fails and `StopTimedOut` when the run is still
        going after `stop_timeout` seconds; in both cases the chat stays generating.
        """
        run = await self.store.get_run(run_id)
        if run is None or run.status.terminal:
            return False
        if run.fault is Fault.CANCEL_FAILS:
            raise StopFailed()
        first = await self.store.request_cancel(run_id)
        if await self.store.wait_finished(run_id, self.stop_timeout) is None:
            raise StopTimedOut()
        return first

    async def stop_everywhere(self) -> None:
        """Ask every running run of the store to stop, whichever process generates it, and give
        them up to `RESET_GRACE` seconds together to end (a reset's first step)."""
        run_ids = await self.store.running_runs()
        for run_id in run_ids:
            await self.store.request_cancel(run_id)
        if run_ids:
            waits = [self.store.wait_finished(run_id, RESET_GRACE) for run_id in run_ids]
            await asyncio.gather(*waits)

    def abandon(self, run_id: str) -> None:
        """Stop generating a run that is no longer this process's (its lease was taken over),
        leaving what is stored to the process that took it."""
        task = self._tasks.get(run_id)
        if task is not None:
            self._abandoned.add(run_id)
            task.cancel()

    async def close(self, wait: float | None = tasks.STOP_WAIT) -> None:
        """Cancel every running task and wait for them to settle: `wait` seconds at most on a
        server's shutdown (a run slow to unwind must not hold its exit), or for as long as they
        take (None) before a reset forgets what they write."""
        running = list(self._tasks.values())
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=wait)

    async def cancel_all(self, grace: float) -> int:
        """Server shutdown: stop every running generation the way a stop does; return how many ran.

        Each run ends as a stopped one (its open tool calls cancelled, then `abort`) and, from now
        on, a run that starts is stopped at once. A run still going after `grace` seconds (one that
        ignores cancellation) is ended with an `error` chunk saying the server is shutting down.
        Every run ends as cancelled, its message saved with the parts said so far.
        """
        self._closing = True
        running = list(self._tasks.values())
        for task in running:
            with contextlib.suppress(StoreUnavailable):  # then the cancel below ends it
                await self.store.request_cancel(task.get_name())
        if not running:
            return 0
        _, pending = await asyncio.wait(running, timeout=grace)
        for task in pending:
            self._ended_by_shutdown.add(task.get_name())
            task.cancel()
        if pending:
            # Bounded too: the server's exit must not wait on a run that is slow to unwind.
            await asyncio.wait(pending, timeout=grace)
        return len(running)

    async def _generate(self, run: Run) -> None:
        emitted: list[Chunk] = []
        status = RunStatus.COMPLETED
        try:
            status = await self._emit(run, emitted)
        except asyncio.CancelledError:
            if run.id in self._abandoned:
                self._abandoned.discard(run.id)
                return
            if run.id in self._ended_by_shutdown:
                with contextlib.suppress(RunForgotten, StoreUnavailable):
                    await self.store.append_chunks(run.id, (ui.error_chunk(SHUTTING_DOWN), ui.FINISH))
            await self._finish_and_forget(run, emitted, RunStatus.CANCELLED)
            raise
        except RunForgotten:
            return  # the store was reset: nothing is left to finish
        except StoreUnavailable:
            # Its lease lapses while the store is away; then a process takes the run over and ends it.
            log.warning("generation %s lost the store; it ends when its lease lapses", run.id)
            return
        except Exception:
            log.exception("generation %s failed", run.id)
            status = RunStatus.FAILED
            # As the service's workflow body ends every exit: with `finish` (`runAgentWorkflow.ts`).
            with contextlib.suppress(RunForgotten, StoreUnavailable):
                await self.store.append_chunks(run.id, (ui.error_chunk(FAILED), ui.FINISH))
        await self._finish_and_forget(run, emitted, status)

    async def _finish_and_forget(self, run: Run, emitted: list[Chunk], status: RunStatus) -> None:
        with contextlib.suppress(RunForgotten, StoreUnavailable):
            await save_and_release(self.store, run, emitted, status, self.max_messages, self.retention)

    async def _emit(self, run: Run, emitted: list[Chunk]) -> RunStatus:
        # Made chunk by chunk: an endless demo answer is 20,000 chunks, of which a stop sees a few.
        break_at = ui.step_count(run.answer) // 2 if run.fault is Fault.BREAK_STREAM else None
        open_calls = ui.OpenToolCalls()
        clock = _Clock()
        me = asyncio.current_task()
        for index, step in enumerate(ui.answer_steps(run.message_id, run.answer, run.model_id)):
            tasks.raise_if_cancelled(me)  # an answer would otherwise stream to its end
            if index == break_at:
                await self._end_with(run, open_calls, emitted, ui.error_chunk(BROKE_OFF))
                return RunStatus.FAILED
            if step.wait is not ui.Wait.NONE and await self._stopped_while_waiting(
                run, clock.wait(step, self.pacing)
            ):
                # A stopped turn's end, as the service streams it: the model's `abort`.
                await self._end_with(run, open_calls, emitted, ui.ABORT)
                return RunStatus.CANCELLED
            open_calls.saw(step.chunk)
            await self._send(run, step.chunk, emitted)
        return RunStatus.COMPLETED

    async def _end_with(
        self, run: Run, open_calls: ui.OpenToolCalls, emitted: list[Chunk], last: Chunk
    ) -> None:
        """A turn's end, in one write: every tool call still open cancelled, as the service's stream
        watcher does when a run ends (`lib/chat/wrapWorkflowStreamWatcher.ts`), then `last` (a
        stop's `abort`, a broken stream's `error`) and the workflow body's `finish`
        (`app/lib/workflows/runAgentWorkflow.ts`). The watcher adds the cancels after its source
        ends; the mock streams them before the answer's last chunks, so that `finish` stays last
        for every client, the ones that stop reading there included."""
        ending = []
        for chunk, saved in open_calls.closing():
            ending.append(chunk)
            if saved:
                emitted.append(chunk)
        await self.store.append_chunks(run.id, (*ending, last, ui.FINISH))

    async def _stopped_while_waiting(self, run: Run, delay: float) -> bool:
        if run.fault is Fault.IGNORE_CANCEL:
            await asyncio.sleep(delay)
            return False
        return await self.store.wait_cancel_requested(run.id, delay)

    async def _send(self, run: Run, chunk: Chunk, emitted: list[Chunk]) -> None:
        await self.store.append_chunk(run.id, chunk)
        emitted.append(chunk)


async def save_and_release(
    store: ChatStore, run: Run, said: list[Chunk], status: RunStatus, max_messages: int, retention: float
) -> None:
    """Keep what was said, free the chat, then wake whoever waits for the run to end (its chunks
    stay readable `retention` seconds more)."""
    parts = ui.assemble(said)
    if ui.has_content(parts):
        message = {
            "id": run.message_id,
            "role": "assistant",
            "parts": parts,
            "metadata": {**ui.message_metadata(said), "status": status.value},
        }
        try:
            await store.append_message(run.chat_id, message, max_messages)
        except StoreFull:
            # The answer was streamed whole; only its copy in the history is lost, and the chat
            # must be freed all the same.
            log.warning(
                "the answer of chat %s was not kept: the store is full (--max-store-bytes)", run.chat_id
            )
    await store.swap_active_stream(run.chat_id, run.id, None)
    await store.finish_run(run.id, status, keep_for=retention)
