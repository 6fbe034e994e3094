"""The async interface every store implements.

Each method is one atomic step on shared state, so that a networked backend (Redis: hashes, a
compare-and-set script, a stream per generation, pub/sub for cancellation) can implement it and let
several server processes share chats, with a stop in one process cancelling a generation in another.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any, Protocol

from mock_server.domain.answers import Answer
from mock_server.domain.models import Account, Chat, ChatRemoval, Chunk, Message, Run, RunStatus, Session


class RunForgotten(LookupError):
    """The run is no longer stored (the store was reset while it generated)."""


class RunTaken(RunForgotten):
    """The run is no longer this process's to write: its lease lapsed and another process took it
    over (see `take_over`)."""


class ChatStore(Protocol):
    max_bytes: int
    """The byte budget of chats and their messages (0: no bound)."""
    shared: bool
    """Whether other processes may share this store (then leases and the seed's upkeep run)."""

    async def open(self) -> None:
        """Connect (a networked store); `StoreUnavailable` when the store cannot be reached."""
        ...

    async def close(self) -> None: ...

    # Accounts and keys
    async def add_account(self, account: Account) -> None: ...
    async def account_for_key(self, api_key: str) -> Account | None: ...
    async def accounts(self) -> list[Account]: ...

    # Sessions, chats, messages
    async def add_session(self, session: Session) -> None: ...
    async def get_session(self, session_id: str) -> Session | None: ...
    async def update_session(
        self, session_id: str, change: Callable[[Session], Session | None]
    ) -> Session | None:
        """Store `change(session)` in place of the session, as one step: a concurrent change is
        never lost and a forgotten session never comes back. `change` may be called more than once
        (with the session as stored each time) and returns None to leave it as it is. The session as
        stored now, or None when it is not stored."""
        ...

    async def sessions(self, account_id: str) -> list[Session]: ...
    async def add_chat(self, chat: Chat, max_chats: int = 0, session: Session | None = None) -> Chat:
        """Store `chat` unless one with its id exists; return the stored chat either way.

        With `max_chats` (> 0), a new chat that would pass the bound first evicts the chat idle
        the longest (that nothing claims or generates for), in the same atomic step as the count
        and the add, so that no number of concurrent adds, in any number of processes, stores
        more; `TooManyChats` when every chat is busy. With `session` (the chat's own, new), the
        session is stored in that same step, once the chat has room.

        An evicted chat goes with its messages and read marks, and its session when that was the
        session's last chat. Every write that adds bytes (`add_chat`, `update_chat`,
        `append_message`) evicts so within the store's byte budget, never the chat written to,
        or raises `StoreFull` having evicted nothing (see `space`)."""
        ...

    async def chat_count(self) -> int: ...
    async def bytes_used(self) -> int:
        """The bytes the chats hold, against the store's `max_bytes` (see `space.chat_size`)."""
        ...

    async def get_chat(self, chat_id: str) -> Chat | None: ...
    async def chat_and_owner(self, chat_id: str) -> tuple[Chat | None, str | None]:
        """The chat, and the account that owns its session (None for what is not stored), in one
        read: what every request about a chat checks first."""
        ...

    async def chats(self, session_id: str) -> list[Chat]: ...
    async def update_chat(
        self, chat_id: str, *, title: str | None = None, model_id: str | None = None
    ) -> Chat | None:
        """Set the chat's title and model (those given) and stamp its `updated_at`, leaving every
        other field as it is; the chat as stored now, or None when it is not stored."""
        ...

    async def remove_chat(self, session_id: str, chat_id: str) -> tuple[ChatRemoval, str | None]:
        """Forget the chat with its messages and read marks, unless it is not that session's or is
        its only chat: the count and the removal are one step, so two concurrent removals of a
        session's last two chats leave one. With the outcome, the `active_stream_id` the removed
        chat held at that moment (None when it was idle or is kept)."""
        ...

    async def mark_read(self, chat_id: str, account_id: str, at: str) -> bool:
        """Record that `account_id` has read the chat up to `at`; False when it is not stored."""
        ...

    async def read_marks(self, account_id: str, chat_ids: Sequence[str]) -> dict[str, str]:
        """When `account_id` last read each of these chats (only those it has read)."""
        ...

    async def append_message(self, chat_id: str, message: Message, keep_last: int = 0) -> None:
        """Add `message` to the chat's history, then keep only its last `keep_last` (0: all); a chat
        that is no longer stored stays so."""
        ...

    async def messages(self, chat_id: str) -> list[Message]: ...

    async def swap_active_stream(
        self,
        chat_id: str,
        expected: str | None,
        new: str | None,
        *,
        adding: Message | None = None,
        keep_last: int = 0,
    ) -> bool:
        """Compare-and-set the chat's `active_stream_id`; True when it held `expected`. With
        `adding`, that message is appended (as `append_message` does) in the same step: when it
        does not fit the byte budget, `StoreFull`, and neither happens (a send refused so leaves
        the chat as it was, its time and its place in the idle order included)."""
        ...

    # Generations
    async def add_run(self, run: Run, lease: float) -> None:
        """Store a running `run`, leased to its process for `lease` seconds (see `renew_leases`)."""
        ...

    async def get_run(self, run_id: str) -> Run | None: ...
    async def append_chunks(self, run_id: str, chunks: Sequence[Chunk]) -> int:
        """Append to the run's chunk log, in order and in one step; return the log's length. A
        finished run's log no longer grows; `RunForgotten` when the run is not stored, `RunTaken`
        when another process took it over (only the process that added a run, or took it over,
        writes its chunks and end)."""
        ...

    async def append_chunk(self, run_id: str, chunk: Chunk) -> int:
        """`append_chunks` of one chunk."""
        ...

    async def chunks(self, run_id: str) -> list[Chunk]:
        """The run's chunk log as it is now."""
        ...

    async def chunk_count(self, run_id: str) -> int: ...
    def follow_chunks(self, run_id: str, start: int = 0) -> AsyncGenerator[Chunk, None]:
        """Chunks from index `start` on, waiting for new ones until the run has finished."""
        ...

    async def finish_run(self, run_id: str, status: RunStatus, *, keep_for: float | None = None) -> None:
        """Give a running run its terminal `status` (a finished run keeps its first) and end its
        lease; `keep_for`: forget it with its chunks that many seconds later, whatever happens to
        the process that finished it."""
        ...

    async def wait_finished(self, run_id: str, timeout: float) -> RunStatus | None:
        """The run's terminal status (`cancelled` for a run no longer stored), or None when it is
        still running after `timeout` seconds."""
        ...

    async def request_cancel(self, run_id: str) -> bool:
        """Ask the run to stop; True for the first request only (False for a run not stored)."""
        ...

    async def wait_cancel_requested(self, run_id: str, timeout: float) -> bool:
        """True as soon as a cancel is requested (or the run is no longer stored), False when
        `timeout` passes without one."""
        ...

    # Leases: the process generating a run renews its lease; a lapsed lease means that process is
    # gone, and whoever takes the run over ends it.
    async def renew_leases(self, run_ids: Sequence[str], lease: float) -> list[str]:
        """Extend the leases of these runs by `lease` seconds from now; the ids among them that no
        longer hold one (finished, or taken over)."""
        ...

    async def lapsed_runs(self) -> dict[str, float]:
        """Running runs whose lease has lapsed, each with its lease's expiry (which a renewal
        moves, so that a taker can tell a run renewed meanwhile)."""
        ...

    async def take_over(self, run_id: str, lease: float, expiry: float) -> bool:
        """Lease a lapsed run to the caller for `lease` seconds, provided its lease still has the
        `expiry` that `lapsed_runs` gave (it was not renewed since); True for one caller only."""
        ...

    async def running_runs(self) -> list[str]:
        """The ids of every running run, whichever process generates it."""
        ...

    async def run_count(self) -> int:
        """How many runs are kept, running or finished."""
        ...

    # Seeding and settings shared by every process
    async def begin_seeding(self, digest: str, *, replace: bool = False) -> str | None:
        """None when the caller is to load the seed of `digest` (then `end_seeding`, or
        `abandon_seeding` on failure); else the digest of the seed the store holds already, after
        waiting for a load under way elsewhere. `replace`: the caller loads its seed in place of
        any, after the load under way (loads are one at a time)."""
        ...

    async def end_seeding(self, digest: str, seed: dict[str, Any]) -> None:
        """The load is done: `seed` (its document) is the one in force for every process."""
        ...

    async def seed_in_force(self) -> dict[str, Any] | None:
        """The document of the seed last loaded, or None (nothing loaded, or it was cleared)."""
        ...

    async def lost_everything(self) -> bool:
        """True when the store lost what it held behind the mock's back (a Redis that restarted
        empty), rather than through `clear`; False until a seed has been loaded."""
        ...

    async def abandon_seeding(self) -> None:
        """The load `begin_seeding` granted failed: let the next process load the seed at once."""
        ...

    async def set_default_answer(self, answer: Answer | None) -> None: ...
    async def default_answer(self) -> Answer | None: ...

    async def clear(self) -> None:
        """Forget everything (a reset before loading seed data), but a seed load under way;
        every process's waits for a cancel end at once, as the runs they wait for are gone."""
        ...
