"""Applies canonical call events: dedupe, state machine, storage, caller history, metrics."""

from __future__ import annotations

import logging
import time
from datetime import datetime

import msgspec

from callcenter.domain.agents import Agent
from callcenter.domain.call_lifecycle import (
    CallChange,
    Disposition,
    apply_call_event,
    summarise,
)
from callcenter.domain.callers import (
    EXCERPT_LINES,
    CallerHistory,
    CallerView,
    CallSummary,
    caller_key,
    excerpt_of,
)
from callcenter.domain.calls import Call, CallState, Outcome, Survey
from callcenter.domain.capacity import ready
from callcenter.domain.event_time import EventClock, at_server_time
from callcenter.domain.events import AgentLegFailed, CallEvent, event_type
from callcenter.domain.timers import Timer, wrap_up_timer
from callcenter.metrics import Metrics
from callcenter.services.callers import MISSING, CallerService, Missing
from callcenter.services.clock import Clock
from callcenter.services.optimistic import Retry, with_retries
from callcenter.services.routing import RoutingService, went_to_wrap_up
from callcenter.storage.calls import CallRepository
from callcenter.storage.documents import CommitResult
from callcenter.storage.moods import CallMoodRepository
from callcenter.storage.transcripts import TranscriptRepository

logger = logging.getLogger(__name__)


class EventResult(msgspec.Struct, frozen=True, kw_only=True):
    """What happened to one event: applied, stale (ignored, too late) or duplicate."""

    event_id: str
    call_id: str
    type: str
    result: Disposition
    state: CallState | None = None


class CallEventService:
    def __init__(
        self,
        calls: CallRepository,
        callers: CallerService,
        *,
        clock: Clock,
        metrics: Metrics,
        default_queue: str,
        routing: RoutingService,
        moods: CallMoodRepository | None = None,
        transcripts: TranscriptRepository | None = None,
        event_clock: EventClock | None = None,
    ) -> None:
        """`moods` and `transcripts` (when speech is on) give a finished call's final
        sentiment and last lines to its caller's history."""
        self._routing = routing
        self._event_clock = event_clock or EventClock()
        self._moods = moods
        self._transcripts = transcripts
        self._calls = calls
        self._callers = callers
        self._clock = clock
        self._metrics = metrics
        self._default_queue = default_queue

    async def apply(self, event: CallEvent, *, dialect: str) -> EventResult:
        """Apply one event atomically, at the server's time (`event_time`). Raises Conflict
        subclasses, NotFound, and InvalidInput for a replay older than the window."""
        started = time.perf_counter()
        try:
            timed = at_server_time(event, self._clock.now(), self._event_clock)
            if timed is not event:
                self._metrics.event_times_clamped_total.labels(dialect).inc()
            result = await self._apply(timed, dialect)
        except Exception:
            self._metrics.events_total.labels(dialect, event_type(event), "rejected").inc()
            raise
        self._metrics.events_total.labels(dialect, result.type, str(result.result)).inc()
        self._metrics.event_apply_seconds.observe(time.perf_counter() - started)
        return result

    async def _apply(self, event: CallEvent, dialect: str) -> EventResult:
        kind = event_type(event)

        hinted = caller_key(event.from_) if event.from_ else None
        known_history: list[CallerHistory | None] = []
        before: list[Call | None] = []

        async def attempt() -> tuple[Disposition, CallChange | None]:
            context = await self._calls.load_context(event.call_id, event.agent_id, hinted)
            call, agents = context.call, context.agents
            before[:] = [call]
            now = self._clock.now()
            change = apply_call_event(
                call,
                agents,
                event,
                now,
                default_queue=self._default_queue,
                queues=self._routing.rules.current.queue,
            )
            change = _as_received(change, call, dialect, hinted, context.caller_key)
            pairs = tuple((agents[new.id], new) for new in change.agents)
            caller = None
            record = context.caller_key
            if record is not None and record == change.call.caller_key:
                caller = self._callers.view_of(record, context.profile, context.history)
                known_history[:] = [context.history]
            change, timers = await self._routing_for(call, change, pairs, now, caller)
            result, _ = await self._calls.commit(
                call, change.call, pairs, event_id=event.event_id, now=now, timers=timers
            )
            if result is CommitResult.CONFLICT:
                raise Retry
            if result is CommitResult.DUPLICATE:
                return Disposition.DUPLICATE, None
            return change.disposition, change

        disposition, change = await with_retries("call", event.call_id, attempt)
        if change is not None:
            self._count_survey(before[0].survey if before[0] else None, change)
            if isinstance(event, AgentLegFailed) and change.disposition is Disposition.APPLIED:
                self._metrics.reservations_total.labels("agent_leg_failed").inc()
            await self._after_commit(change, known_history[0] if known_history else MISSING)
        else:
            change = await self._redeliver(event)
        return EventResult(
            event_id=event.event_id,
            call_id=event.call_id,
            type=kind,
            result=disposition,
            state=change.call.state if change else None,
        )

    async def _routing_for(
        self,
        old: Call | None,
        change: CallChange,
        pairs: tuple[tuple[Agent, Agent], ...],
        now: datetime,
        caller: CallerView | None,
    ) -> tuple[CallChange, list[Timer]]:
        """A call entering the queue gets its rule and timers; an agent entering wrap-up
        gets its wrap-up timer."""
        timers: list[Timer] = []
        call = change.call
        if call.state is CallState.QUEUED and (old is None or old.state is not CallState.QUEUED):
            call, timers = await self._routing.route_call(call, caller)
            change = msgspec.structs.replace(change, call=call)
        for before, after in pairs:
            if went_to_wrap_up(before, after):
                timers.append(wrap_up_timer(after.id, call, self._routing.rules.current, now))
        return change, timers

    async def _redeliver(self, event: CallEvent) -> CallChange | None:
        """A duplicate delivery: repeat the idempotent follow-ups, in case the first
        delivery stopped between the call commit and the caller history write."""
        call = await self._calls.get(event.call_id)
        if call is None:
            return None
        if call.state in (CallState.WRAP_UP, CallState.ENDED) and call.outcome is not None:
            await self._record_history(call)
        if call.state is CallState.QUEUED:
            self._routing.request_dispatch()
        return CallChange(disposition=Disposition.DUPLICATE, call=call)

    async def _after_commit(
        self, change: CallChange, history: CallerHistory | Missing | None = MISSING
    ) -> None:
        call = change.call
        if call.state is CallState.QUEUED or any(ready(a) for a in change.agents):
            self._routing.request_dispatch()
        if change.finished is not None:
            self._metrics.calls_total.labels(call.queue, str(change.finished.outcome)).inc()
            self._count_finished(change.finished)
            if call.caller_key:
                await self._record_finished(call.caller_key, change.finished, history)
        if change.survey is not None and call.caller_key:
            await self._callers.record_survey(call.caller_key, call.id, change.survey)

    def _count_finished(self, finished: CallSummary) -> None:
        """Wait and talk time of an answered call, by queue (abandoned calls are counted
        by calls_total{outcome="abandoned"} alone)."""
        if finished.outcome is not Outcome.HANDLED:
            return
        if finished.wait_seconds is not None:
            self._metrics.queue_wait_seconds.observe(finished.queue, finished.wait_seconds)
        if finished.talk_seconds is not None:
            self._metrics.handle_seconds.observe(finished.queue, finished.talk_seconds)

    def _count_survey(self, old: Survey | None, change: CallChange) -> None:
        """Each survey answer counts once per call: the first one given."""
        new = change.survey
        if new is None:
            return
        queue = change.call.queue
        for name, histogram in (
            ("csat", self._metrics.survey_csat),
            ("nps", self._metrics.survey_nps),
            ("ces", self._metrics.survey_ces),
        ):
            answer = getattr(new, name)
            if answer is not None and (old is None or getattr(old, name) is None):
                histogram.observe(queue, answer)

    def _count_unresolved(self, calls: list[CallSummary]) -> None:
        """First-contact resolution: earlier calls this caller's new call made unresolved,
        by their queue."""
        for earlier in calls:
            self._metrics.unresolved_calls_total.labels(earlier.queue).inc()

    async def _record_history(self, call: Call) -> None:
        if call.caller_key is None or call.outcome is None or call.ended_at is None:
            return
        await self._record_finished(call.caller_key, summarise(call))

    async def _record_finished(
        self, key: str, summary: CallSummary, history: CallerHistory | Missing | None = MISSING
    ) -> None:
        """Record a finished call with its final sentiment and last lines as far as its
        transcript goes. The transcribing instance may write a later figure at any moment:
        reading it again after the record closes the gap (it sets them only once the call
        is in the history)."""
        if self._moods is None:
            self._count_unresolved(await self._callers.record_call(key, summary, history))
            return
        call_id = summary.call_id
        mood = await self._moods.final(call_id)
        excerpt = await self._excerpt(call_id) if mood is not None else []  # no lines yet
        unresolved = await self._callers.record_call(
            key, msgspec.structs.replace(summary, sentiment=mood, excerpt=excerpt), history
        )
        self._count_unresolved(unresolved)
        again = await self._moods.final(call_id)
        if again is not None and again != mood:
            excerpt = await self._excerpt(call_id)
            await self._callers.record_ending(key, call_id, sentiment=again, excerpt=excerpt)

    async def _excerpt(self, call_id: str) -> list[str]:
        """The call's last transcript lines, as its history keeps them."""
        if self._transcripts is None:
            return []
        last = await self._transcripts.last(call_id, EXCERPT_LINES)
        return excerpt_of((entry.speaker, entry.text) for entry in last)


def _as_received(
    change: CallChange, before: Call | None, dialect: str, hinted: str | None, record: str | None
) -> CallChange:
    """A new call keeps the dialect it came in by; a call keyed by another identity of a
    customer record (an alias: a number a chat or the CRM linked to an email) is keyed by
    the record, so its history and pop are the customer's."""
    call = change.call
    if before is None and dialect != call.dialect:
        call = msgspec.structs.replace(call, dialect=dialect)
    if record is not None and record != hinted and call.caller_key == hinted:
        call = msgspec.structs.replace(call, caller_key=record)
    return change if call is change.call else msgspec.structs.replace(change, call=call)
