"""Callbacks for Twilio callers: the hold's turns (the estimated wait said at most every
`announce_seconds`, and "press 1 to be called back" once the wait passes the queue's
`callback_offer_after_seconds`), the keypad menu that takes the callback (confirm the
caller's number or key another), and the reports on the callback's leg.

The menu, as TwiML actions (each answered with TwiML; any other key, or none, is back to
hold): the offer's 1 → "press 1 to be called at <number>, or 2 to enter another number";
2 → key a number and # (gateways.twilio.keypad), said back for confirmation; 1 → the
callback is taken (`CallbackService.request_for_call`, source "ivr"), "we will call you
back at … . Goodbye." and <Hangup>. Hanging up then does not end the callback."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import urlencode

from callcenter.domain.callbacks import check_number
from callcenter.domain.callers import caller_key
from callcenter.domain.calls import Call, CallState
from callcenter.domain.events import CallAnswered, CallEnded, CallRinging
from callcenter.errors import Conflict, InvalidInput, NotFound, StorageUnavailable
from callcenter.gateways.twilio import twiml
from callcenter.gateways.twilio.keypad import keyed_number, spoken_number
from callcenter.services.callbacks import CallbackService
from callcenter.services.calls import CallQueryService
from callcenter.services.clock import Clock
from callcenter.services.rules_source import RulesSource

ANNOUNCED_PARAMETER = "announced"  # the hold URL's: unix time of the last announcement
NUMBER_PARAMETER = "number"  # the confirmation's: the number offered, digits without +
OFFER_PROMPT = "To be called back when an agent is free instead of holding, press 1."
ENTRY_PROMPT = "Please enter the number to call you back at, then press the pound key."
NOT_A_NUMBER = "Sorry, that is not a number we can call."
NUMBER_DIGITS = 18  # 00 or 011, and up to 15 digits
ENTRY_TIMEOUT_SECONDS = 10

LegEvent = CallRinging | CallAnswered | CallEnded


class WaitEstimates(Protocol):
    """How long a waiting call should still wait (services.queue_outlook.QueueOutlook)."""

    async def held_call_wait(self, call: Call) -> float | None:
        """Seconds `call`, on hold, should still wait; None when it cannot be told."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class MenuUrls:
    """The public URLs of the hold and of the menu's steps (absolute: Twilio needs them)."""

    hold: str
    offer: str
    confirm: str
    number: str

    def hold_after(self, announced_at: int | None) -> str:
        """The hold's <Redirect>, carrying when the caller last heard an announcement."""
        if announced_at is None:
            return self.hold
        return f"{self.hold}?{urlencode({ANNOUNCED_PARAMETER: announced_at})}"

    def confirm_for(self, number: str) -> str:
        return f"{self.confirm}?{urlencode({NUMBER_PARAMETER: number.lstrip('+')})}"


def wait_announcement(seconds: float) -> str:
    """What the caller hears of an estimated wait: about N minutes (whole minutes, rounded
    up), or less than a minute."""
    if seconds < 60:
        return "Your estimated wait is less than a minute."
    minutes = math.ceil(seconds / 60)
    return f"Your estimated wait is about {minutes} minute{'' if minutes == 1 else 's'}."


class TwilioCallbacks:
    def __init__(
        self,
        calls: CallQueryService,
        callbacks: CallbackService,
        waits: WaitEstimates,
        rules: RulesSource,
        *,
        announce_seconds: float,
        clock: Clock,
        offers_callbacks: bool = True,
    ) -> None:
        """`announce_seconds`: the shortest time between two announcements (0: the wait
        is never announced and the offer is said once); also the silent hold's pause.
        `offers_callbacks`: whether callbacks can be placed (a Twilio dialer is
        configured); without, the wait is still announced but no callback offered."""
        self._offers = offers_callbacks
        self._calls = calls
        self._callbacks = callbacks
        self._waits = waits
        self._rules = rules
        self._announce_seconds = max(0.0, announce_seconds)
        self._clock = clock

    @property
    def pause_seconds(self) -> int:
        if self._announce_seconds <= 0:
            return twiml.HOLD_PAUSE_SECONDS
        return max(1, min(twiml.HOLD_PAUSE_SECONDS, round(self._announce_seconds)))

    async def hold_turn(
        self, call_id: str, urls: MenuUrls, *, announced_at: int | None
    ) -> twiml.HoldTurn:
        """The next turn of the hold of `call_id`: the wait announced and the offer said
        when due, the offer open while the call may take it. A call that cannot be read
        (unknown, storage away) just holds on."""
        stamp = int(self._clock.now().timestamp())
        try:
            call = await self._calls.get(call_id)
            wait = await self._waits.held_call_wait(call)
        except (NotFound, StorageUnavailable):
            return twiml.HoldTurn(
                redirect_url=urls.hold_after(announced_at), pause_seconds=self.pause_seconds
            )
        due = self._due(announced_at, stamp)
        offering = self._offering(call, wait)
        announcement = wait_announcement(wait) if due and wait is not None else None
        offer = OFFER_PROMPT if offering and (due or announced_at is None) else None
        said = announcement is not None or offer is not None
        return twiml.HoldTurn(
            redirect_url=urls.hold_after(stamp if said else announced_at),
            announcement=announcement,
            offer=offer,
            offer_url=urls.offer if offering else None,
            pause_seconds=self.pause_seconds,
        )

    def _due(self, announced_at: int | None, stamp: int) -> bool:
        """Whether an announcement is due: announcements are on, and none was heard in
        the last `announce_seconds`."""
        if self._announce_seconds <= 0:
            return False
        return announced_at is None or stamp - announced_at >= self._announce_seconds

    async def offer(self, call_id: str, digits: str, urls: MenuUrls) -> str:
        """The offer's key: 1 takes it (confirm the caller's own number, or key one)."""
        call = await self._calls.get(call_id)
        if digits != "1" or not self._offers or not self._may_take(call):
            return self._back_to_hold(urls)
        own = _callable(call.from_)
        if own is None:
            return self._entry(urls)
        return self._confirmation(own, urls)

    async def confirm(self, call_id: str, digits: str, number: str, urls: MenuUrls) -> str:
        """The confirmation's key: 1 takes the callback at `number` (digits, as the
        confirmation URL carries it) and hangs up, 2 keys another number. Raises
        InvalidInput for a `number` that is not E.164 digits."""
        chosen = check_number("+" + number, f"/{NUMBER_PARAMETER}")
        if digits == "2":
            return self._entry(urls)
        if digits != "1":
            return self._back_to_hold(urls)
        try:
            await self._callbacks.request_for_call(call_id, chosen, source="ivr")
        except Conflict:
            return self._back_to_hold(urls)  # no longer waiting: an agent took the call
        return twiml.say_and_hangup(f"We will call you back at {spoken_number(chosen)}. Goodbye.")

    async def keyed(self, call_id: str, digits: str, urls: MenuUrls) -> str:
        """A number keyed in: said back for confirmation, or asked for again."""
        call = await self._calls.get(call_id)
        try:
            number = keyed_number(digits, _callable(call.from_))
        except InvalidInput:
            return self._entry(urls, preface=NOT_A_NUMBER)
        return self._confirmation(number, urls)

    def _offering(self, call: Call, wait: float | None) -> bool:
        """Whether `call` is offered a callback: its queue offers them past a wait, and
        its estimated wait is longer; with no estimate (nobody serving the queue, or no
        handle times yet), once it has held that long."""
        if not self._offers or not self._may_take(call):
            return False
        after = self._rules.current.queue(call.queue).callback_offer_after_seconds
        if after is None:
            return False
        if wait is not None:
            return wait > after
        return _held_seconds(call, self._clock.now()) >= after

    def _may_take(self, call: Call) -> bool:
        return call.state is CallState.QUEUED and call.callback is None

    def _back_to_hold(self, urls: MenuUrls) -> str:
        # just heard the menu: no announcement at once
        return twiml.redirect(urls.hold_after(int(self._clock.now().timestamp())))

    def _confirmation(self, number: str, urls: MenuUrls) -> str:
        prompt = (
            f"Press 1 to be called back at {spoken_number(number)}, or 2 to enter another number."
        )
        return twiml.gather_digits(
            prompt, urls.confirm_for(number), fallback_url=self._hold_url(urls)
        )

    def _entry(self, urls: MenuUrls, *, preface: str | None = None) -> str:
        return twiml.gather_digits(
            ENTRY_PROMPT,
            urls.number,
            fallback_url=self._hold_url(urls),
            num_digits=NUMBER_DIGITS,
            finish_on_key="#",
            timeout_seconds=ENTRY_TIMEOUT_SECONDS,
            preface=preface,
        )

    def _hold_url(self, urls: MenuUrls) -> str:
        return urls.hold_after(int(self._clock.now().timestamp()))


def _callable(number: str | None) -> str | None:
    """The caller's number as E.164, if it is one (not "anonymous", a client, a SIP URI)."""
    if not number:
        return None
    try:
        return check_number(caller_key(number))
    except InvalidInput:
        return None


def _held_seconds(call: Call, now: datetime) -> float:
    return (now - (call.queued_at or call.created_at)).total_seconds()
