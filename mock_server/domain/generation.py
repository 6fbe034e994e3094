"""Running generations: each is an asyncio task that writes an answer's chunks to the store.

The task paces its chunks and, between two of them, waits on the store's cancel signal rather than
sleeping, so a stop requested from any process ends the stream at once. Cancelling means: request it
through the store, then wait until the task has finished. Nothing here knows about HTTP.
"""

from __future__ import annotations

import asyncio
import logging

from mock_server.domain import chunks as ui
from mock_server.domain.errors import ChatBusy, StopFailed, StopTimedOut
from mock_server.domain.models import Chunk, Fault, Run, RunStatus, new_id
from mock_server.domain.store import ChatStore

log = logging.getLogger(__name__)


def answer_for(prompt: str) -> str:
    """The mock assistant's deterministic answer to `prompt`."""
    quoted = " ".join(prompt.split())[:120] or "(nothing)"
    return (
        f'You said: "{quoted}". This answer comes from the Recoup mock and streams word by word, '
        "so there is time to press Stop before it ends."
    )


class Generations:
    """Starts, paces, cancels and finishes the generations of one store."""

    def __init__(self, store: ChatStore, *, pace: float, stop_timeout: float) -> None:
        self.store = store
        self.pace = pace
        self.stop_timeout = stop_timeout
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(
        self,
        chat_id: str,
        claim: str,
        text: str,
        *,
        repeat: bool = False,
        fault: Fault | None = None,
    ) -> Run:
        """Start generating `text` for a chat that `claim` (a pending id) holds; return the run."""
        run = Run(
            id=f"run_{new_id().replace('-', '')}",
            chat_id=chat_id,
            message_id=f"msg_{new_id().replace('-', '')}",
            text=text,
            repeat=repeat,
            fault=fault,
        )
        await self.store.add_run(run)
        if not await self.store.swap_active_stream(chat_id, claim, run.id):
            await self.store.finish_run(run.id, RunStatus.CANCELLED)
            raise ChatBusy("The chat was stopped before its response started")
        task = asyncio.create_task(self._generate(run), name=run.id)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
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

    async def close(self) -> None:
        """Cancel every running task (server shutdown or reset) and wait for them to settle."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _generate(self, run: Run) -> None:
        emitted: list[Chunk] = []
        status = RunStatus.COMPLETED
        try:
            status = await self._emit(run, emitted)
        except asyncio.CancelledError:
            status = RunStatus.CANCELLED
            raise
        except Exception:
            log.exception("generation %s failed", run.id)
            status = RunStatus.FAILED
        finally:
            await self._finish(run, emitted, status)

    async def _emit(self, run: Run, emitted: list[Chunk]) -> RunStatus:
        # Made chunk by chunk: an endless demo answer is 20,000 chunks, of which a stop sees a few.
        last = ui.answer_length(run.text, repeat=run.repeat) - 1
        break_at = (last + 1) // 2 if run.fault is Fault.BREAK_STREAM else None
        for index, chunk in enumerate(ui.text_answer(run.message_id, run.text, repeat=run.repeat)):
            if index == break_at:
                await self.store.append_chunk(run.id, ui.error_chunk("The stream broke off"))
                return RunStatus.FAILED
            await self.store.append_chunk(run.id, chunk)
            emitted.append(chunk)
            if index == last:
                break
            if run.fault is Fault.IGNORE_CANCEL:
                await asyncio.sleep(self.pace)
            elif await self.store.wait_cancel_requested(run.id, self.pace):
                await self.store.append_chunk(run.id, ui.ABORT)
                return RunStatus.CANCELLED
        return RunStatus.COMPLETED

    async def _finish(self, run: Run, emitted: list[Chunk], status: RunStatus) -> None:
        """Keep what was said, free the chat, then wake whoever waits for the run to end."""
        text = ui.text_of(emitted)
        if text:
            message = {
                "id": run.message_id,
                "role": "assistant",
                "parts": [{"type": "text", "text": text}],
                "metadata": {"status": status.value},
            }
            await self.store.append_message(run.chat_id, message)
        await self.store.swap_active_stream(run.chat_id, run.id, None)
        await self.store.finish_run(run.id, status)
