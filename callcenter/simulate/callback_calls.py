"""Callers who take a callback (Twilio): on hold they look for the offer now and then and
take it when the plan says so; then the server calls them back. Each attempt is answered,
busy or not answered as planned; an answered one is connected to its agent (as a <Dial>
connects a caller on hold), talks for the call's handle time and hangs up. An unanswered
one is retried by the server per its queue's policy, until it gives up (failed).

When the run stops, a callback still waiting is canceled (DELETE /v1/callbacks/{id}); one
being dialled is seen through (a talk is cut short), so the summary stays consistent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from callcenter.simulate.api import ServerApi, ServerRefused, ServerUnreachable
from callcenter.simulate.ledger import CallbackAttempt, CallRecord, Ledger, Outcome
from callcenter.simulate.switchboard import Switchboard
from callcenter.simulate.traffic import CallbackAnswer
from callcenter.simulate.twilio_callbacks import ANSWERED, ERROR

logger = logging.getLogger(__name__)

FIRST_LOOK_SECONDS = 2.0  # after placing the call: the hold's first turn
HOLD_TURN_SECONDS = 10.0  # then the caller listens for the offer at every turn
CANCEL_SECONDS = 30.0  # at the stop: how long a callback being dialled may take to end
FOREVER = 10 * 86_400.0
NOT_ANSWERED = (CallbackAnswer.BUSY, CallbackAnswer.NO_ANSWER)


class Pause(Protocol):
    def __call__(self, seconds: float, *events: asyncio.Event) -> Awaitable[bool]:
        """Wait `seconds` or until one of `events` is set; False when the run is stopping."""
        ...


class TakesCallbacks(Protocol):
    """A gateway whose callers on hold can take a callback (simulate.twilio_gateway)."""

    async def take_callback(self, record: CallRecord) -> bool: ...


class CallbackCalls:
    def __init__(
        self,
        ledger: Ledger,
        switchboard: Switchboard,
        api: ServerApi,
        *,
        clock: Callable[[], float],
        pause: Pause,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        hung_up: Callable[[CallRecord], None],
    ) -> None:
        """`pause` is the run's stop-aware wait; `spawn` owns a background task;
        `hung_up(record)` tells the agent's phone that the customer hung up."""
        self._ledger = ledger
        self._switchboard = switchboard
        self._api = api
        self._clock = clock
        self._pause = pause
        self._spawn = spawn
        self._hung_up = hung_up
        self._over: dict[str, asyncio.Event] = {}

    # --- the caller on hold -----------------------------------------------------------

    async def hold(
        self,
        record: CallRecord,
        gateway: TakesCallbacks,
        connected: asyncio.Event,
        patience: float,
    ) -> bool:
        """Hold until connected, out of patience or the run stops (False), listening for
        the offer at every turn of the hold; True once a callback is taken."""
        assert record.placed_at is not None
        deadline = record.placed_at + patience
        look = record.placed_at + FIRST_LOOK_SECONDS
        self._over[record.plan.call_sid] = asyncio.Event()
        while True:
            if not await self._pause(min(look, deadline) - self._clock(), connected):
                return False
            if connected.is_set() or self._clock() >= deadline:
                return False
            if await gateway.take_callback(record):
                record.callback_taken_at = self._clock()
                return True
            look = self._clock() + HOLD_TURN_SECONDS

    async def called_back(self, record: CallRecord) -> None:
        """Return once the callback is over: served, failed after its attempts, or (when
        the run stops) canceled or seen through."""
        over = self._over[record.plan.call_sid]
        if await self._pause(FOREVER, over) or over.is_set():
            return
        await self._cancel(record, over)

    async def _cancel(self, record: CallRecord, over: asyncio.Event) -> None:
        sid = record.plan.call_sid
        deadline = self._clock() + CANCEL_SECONDS
        while not over.is_set() and self._clock() < deadline:
            status, _ = await self._api.request(
                "DELETE",
                f"/v1/callbacks/{sid}",
                ok=(200, 404, 409),
                what=f"canceling the callback {sid}",
            )
            if status == 200:
                record.outcome = record.outcome or Outcome.CANCELED
                over.set()
            elif status == 409 and await self._ended_on_server(record):
                over.set()
            else:  # being dialled: the attempt ends soon, then it can be canceled
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(over.wait(), 1.0)

    # --- the customer called back -----------------------------------------------------

    def answers(self, call_id: str) -> str:
        """How the customer takes the attempt being dialled, as planned."""
        record = self._ledger.record(call_id)
        if record is None or not record.plan.callback_answers:
            return ANSWERED
        planned = record.plan.callback_answers
        return planned[max(1, min(len(record.callback_attempts), len(planned))) - 1]

    def heard(self, call_id: str, agent: str | None, what: str) -> None:
        """The gateway's word on a callback leg (simulate.twilio_callbacks.CallbackHook)."""
        record = self._ledger.record(call_id)
        if record is None:
            return
        if what == "dialled":
            self._dialled(record, agent)
        elif what == "answered":
            record.callback_attempts[-1].answer = ANSWERED
            if agent is not None:
                self._switchboard.connect(call_id, agent)
        elif what == "completed":
            self._hung_up(record)
            self._end(record)
        elif what in NOT_ANSWERED:
            record.callback_attempts[-1].answer = what
            self._spawn(self._after_unanswered(record))
        elif what == ERROR:
            self._end(record)

    def _dialled(self, record: CallRecord, agent: str | None) -> None:
        if record.outcome is not None:
            self._ledger.routing_error(
                f"{record.plan.call_sid}: callback dialled after it was over ({record.outcome})"
            )
        record.callback_attempts.append(CallbackAttempt(agent, self._clock()))

    async def talk(self, record: CallRecord, agent: str | None) -> None:
        """The customer on the answered leg: talks for the call's handle time (less when
        the run stops), then hangs up."""
        await self._pause(record.plan.handle_seconds)
        record.hung_up_at = self._clock()
        record.outcome = Outcome.SERVED

    async def _after_unanswered(self, record: CallRecord) -> None:
        """The server has taken the attempt's outcome (the leg's status callback was
        answered): the callback waits for its retry, or it is over."""
        try:
            await self._ended_on_server(record)
        except (ServerRefused, ServerUnreachable) as error:
            self._ledger.failures.append(f"{record.plan.call_sid}: reading the callback: {error}")

    async def _ended_on_server(self, record: CallRecord) -> bool:
        """Whether the server says the callback ended; if it failed, it is over."""
        document = await self._api.call(record.plan.call_sid)
        if document is None or document.get("state") != "ended":
            return False
        if document.get("outcome") == "failed":
            record.outcome = record.outcome or Outcome.FAILED
        self._end(record)
        return True

    def _end(self, record: CallRecord) -> None:
        over = self._over.get(record.plan.call_sid)
        if over is not None:
            over.set()
