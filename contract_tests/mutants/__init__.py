"""Deliberately broken implementations of the stop contract, to prove the suite can fail.

Each mutant is the mock with one rule broken, and names the suite's test (the rule) that must catch
it. `tests/test_contract_suite.py` runs the suite against every one of them and fails when a
mutant passes: a property that catches nothing is a defect of the suite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from starlette.types import ASGIApp

from contract_tests.mutants import broken, wrappers
from mock_server.config import Config
from mock_server.domain.service import ChatService
from mock_server.http.app import create_app
from mock_server.http.runtime import Runtime


@dataclass(frozen=True)
class Mutant:
    name: str
    rule: str
    """The suite's test that must fail against this mutant."""
    breaks: str
    """What the mutant does wrong, in the words of the contract."""
    service: type[ChatService] | None = None
    wrapper: Callable[[ASGIApp], ASGIApp] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    """Settings of the mock that break the rule (a flag a user could set)."""


MUTANTS: dict[str, Mutant] = {
    m.name: m
    for m in [
        Mutant(
            "problem-json-errors",
            "test_error_bodies_are_json_error_objects",
            "errors are RFC 7807 application/problem+json instead of {status, error}",
            wrapper=wrappers.ProblemJsonErrors,
        ),
        Mutant(
            "always-stopped",
            "test_idle_stop_is_stopped_false_every_time",
            "stop always answers stopped:true, even with nothing running",
            service=broken.AlwaysStopped,
        ),
        Mutant(
            "ownership-ignored",
            "test_foreign_chat_is_403",
            "any account may stop any chat",
            service=broken.OwnershipIgnored,
        ),
        Mutant(
            "session-ownership-ignored",
            "test_foreign_session_and_chat_routes_are_403_and_change_nothing",
            "any account may read, rename, archive or delete another's sessions and chats",
            service=broken.SessionOwnershipIgnored,
        ),
        Mutant(
            "foreign-stop-cancels",
            "test_foreign_chat_is_403",
            "a foreign stop answers 403 but cancels the owner's generation first",
            service=broken.ForeignStopCancels,
        ),
        Mutant(
            "crash-on-strange-id",
            "test_non_uuid_chat_id_is_400",
            "a chat id with characters a UUID never has crashes the server (500)",
            service=broken.CrashOnStrangeId,
        ),
        Mutant(
            "success-missing",
            "test_idle_stop_is_stopped_false_every_time",
            "the stop answer lacks the required `success` field",
            wrapper=wrappers.SuccessMissing,
        ),
        Mutant(
            "wrong-key-accepted",
            "test_missing_or_wrong_credentials_are_401_first",
            "an unknown API key is accepted as the first account's",
            service=broken.WrongKeyAccepted,
        ),
        Mutant(
            "validation-before-auth",
            "test_missing_or_wrong_credentials_are_401_first",
            "a malformed chat id is rejected with 400 before the credentials are checked",
            wrapper=wrappers.ValidationBeforeAuth,
        ),
        Mutant(
            "unknown-chat-idle",
            "test_unknown_chat_is_404",
            "a chat nobody owns is treated as an idle chat (200 stopped:false)",
            service=broken.UnknownChatIdle,
        ),
        Mutant(
            "stop-says-false",
            "test_running_stop_is_stopped_true_once_then_false",
            "stopping a running generation cancels it but answers stopped:false",
            service=broken.StopSaysFalse,
        ),
        Mutant(
            "racy-stop",
            "test_concurrent_stops_exactly_one_is_true",
            "every stop that saw the generation running answers stopped:true",
            service=broken.RacyStop,
        ),
        Mutant(
            "stop-keeps-chat-busy",
            "test_chat_accepts_a_new_message_after_a_stop",
            "after a stop the chat stays claimed, so a new message gets 409",
            service=broken.StopKeepsChatBusy,
        ),
        Mutant(
            "stop-leaves-stream-running",
            "test_stopped_stream_ends",
            "stop frees the chat and says stopped:true but the answer keeps streaming",
            service=broken.StopLeavesStreamRunning,
        ),
        Mutant(
            "tools-left-open",
            "test_a_stop_cancels_every_unfinished_tool_call",
            "a stop ends the stream without cancelling the tool call that was running",
            service=broken.ToolsLeftOpen,
        ),
        Mutant(
            "finished-tools-cancelled",
            "test_a_stop_cancels_every_unfinished_tool_call",
            "a stop also marks tool calls that had finished as cancelled",
            service=broken.FinishedToolsCancelled,
        ),
        Mutant(
            "abort-with-reason",
            "test_stopped_stream_ends",
            "the abort chunk carries a `reason`, a field ai@6.0.0 refuses",
            service=broken.AbortWithReason,
        ),
        Mutant(
            "forbidden-names-the-session",
            "test_foreign_session_and_chat_routes_are_403_and_change_nothing",
            "a refused session route's 403 names the session's title and owner",
            service=broken.ForbiddenNamesTheSession,
        ),
        Mutant(
            "second-send-refused",
            "test_a_message_sent_while_an_answer_runs_follows_that_answer",
            "a message sent while an answer runs is refused with 409 instead of following that answer",
            service=broken.SecondSendRefused,
        ),
        Mutant(
            "leaving-continues",
            "test_a_client_that_leaves_its_answer_cancels_it",
            "an answer whose client left goes on to its end (--on-disconnect continue)",
            config={"on_disconnect": "continue"},
        ),
        Mutant(
            "chunk-after-abort",
            "test_stopped_stream_ends",
            "a stopped answer's stream goes on after `abort` (a new text part), which no client reads",
            service=broken.ChunkAfterAbort,
        ),
        Mutant(
            "stream-lingers",
            "test_an_answer_streams_whole_to_its_finish",
            f"an answer's stream stays open {wrappers.LINGER_SECONDS:g} s after `data: [DONE]`",
            wrapper=wrappers.StreamLingers,
        ),
        Mutant(
            "resume-idle-200",
            "test_a_resume_with_nothing_running_is_204_with_no_body",
            "a resume with nothing running answers 200 and an empty stream, not 204",
            service=broken.ResumeIdleIs200,
        ),
        Mutant(
            "resume-from-start",
            "test_a_resume_is_the_running_answer_from_its_start_index",
            "a resume replays the answer from its first chunk, whatever startIndex says",
            service=broken.ResumeFromTheStart,
        ),
        Mutant(
            "start-index-unchecked",
            "test_a_start_index_that_is_not_a_non_negative_integer_is_400",
            "a resume reads a startIndex that is not a non-negative integer as none (from the start)",
            wrapper=wrappers.StartIndexUnchecked,
        ),
        Mutant(
            "delta-before-start",
            "test_an_answer_streams_whole_to_its_finish",
            "deltas stream without their part's start chunk, which AI SDK clients throw on",
            service=broken.DeltaBeforeStart,
        ),
    ]
}

# Short answers keep the suite fast; still several chunks apart, so a stop lands mid-answer.
IN_PROCESS_CONFIG = Config(first_token_delay=0.05, tokens_per_second=50, tool_seconds=0.3, stop_timeout=2.0)


def build_app(
    mutant: str | None, seed: dict[str, Any], config: Config = IN_PROCESS_CONFIG
) -> tuple[Any, Runtime]:
    """The mock (or the named mutant of it) as an ASGI app, and the runtime that holds its state."""
    if mutant is None:
        app = create_app(config, seed)
        return app, app.runtime
    try:
        spec = MUTANTS[mutant]
    except KeyError:
        raise LookupError(f"no mutant {mutant!r}; known: {', '.join(MUTANTS)}") from None
    app = create_app(replace(config, **spec.config), seed)
    runtime = app.runtime
    if spec.service is not None:
        runtime.service = spec.service(runtime.service.store, runtime.service.generations)
    wrapped: Any = spec.wrapper(app) if spec.wrapper is not None else app
    return wrapped, runtime
