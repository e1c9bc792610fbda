"""The simulator as Twilio for callbacks: a caller on hold who takes the offer (presses 1,
confirms the number; Twilio then hangs up), and the customers the server calls back with
REST `Calls.json` creates, answering them: signed status callbacks initiated → ringing →
in-progress, the call kept up while the customer talks (`talk`), then completed (or busy,
or no-answer). Every status callback sent is counted in the ledger's events, as the
server counts it (call.ended, call.ringing, call.answered).

Catches what must never happen: a callback dialled twice at once, a callback the run
never asked for, a callback whose TwiML dials no agent."""

from __future__ import annotations

import asyncio
import logging
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web

from callcenter.simulate.api import ServerRefused
from callcenter.simulate.ledger import CallRecord, Ledger

logger = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
# (path and query, form, what) → the TwiML or empty body the server answered
SignedPost = Callable[[str, dict[str, str], str], Awaitable[str]]
# (call id, agent id or None, what happened: dialled, answered, completed, busy,
# no-answer; or error: the leg could not be reported, see the ledger's failures)
CallbackHook = Callable[[str, str | None, str], None]
# (the record, the agent the leg is bridged to): returns when the customer hangs up
CallbackTalk = Callable[[CallRecord, str | None], Awaitable[None]]
ANSWERED = "in-progress"
BUSY = "busy"
NO_ANSWER = "no-answer"
ERROR = "error"
RING_SECONDS = 0.05  # between initiated, ringing and the answer
DEFAULT_TALK_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class MenuPrompt:
    """A one-key (or keyed number) <Gather> of a TwiML answer: where its digits go."""

    action: str
    num_digits: int


def gather_prompt(twiml: str) -> MenuPrompt | None:
    """The first <Gather> of a TwiML document, if any; raises ValueError for non-XML."""
    gather = _root(twiml).find("Gather")
    if gather is None or not gather.get("action"):
        return None
    return MenuPrompt(gather.get("action", ""), int(gather.get("numDigits", "1")))


def redirect_target(twiml: str) -> str | None:
    """The <Redirect> URL of a TwiML document (the hold's next turn), if any."""
    found = _root(twiml).find("Redirect")
    if found is None:
        return None
    return (found.text or "").strip() or None


def hangs_up(twiml: str) -> bool:
    return _root(twiml).find("Hangup") is not None


def leg_event_type(status: str) -> str:
    """The canonical event the server makes of a callback leg's status."""
    if status in ("queued", "initiated", "ringing"):
        return "call.ringing"
    return "call.answered" if status == ANSWERED else "call.ended"


async def talk_for_handle_time(record: CallRecord, agent: str | None) -> None:
    await asyncio.sleep(record.plan.handle_seconds or DEFAULT_TALK_SECONDS)


def _root(twiml: str) -> ET.Element:
    try:
        return ET.fromstring(twiml)
    except ET.ParseError as error:
        raise ValueError(f"not TwiML: {error}") from None


class CallbackCustomers:
    """The hold menu walked as a caller would, and the customers called back."""

    def __init__(
        self,
        post: SignedPost,
        ledger: Ledger,
        *,
        account_sid: str,
        public_url: str,
        on_callback: CallbackHook,
        answers: Callable[[str], str] = lambda call_id: ANSWERED,
        talk: CallbackTalk = talk_for_handle_time,
        clock: Callable[[], float],
    ) -> None:
        """`post` signs and posts a webhook to the server; `answers(call_id)` is how the
        customer takes the call back: "in-progress" (answers), "busy", "no-answer";
        `talk` keeps an answered leg up until the customer hangs up."""
        self._post = post
        self._ledger = ledger
        self._account = account_sid
        self._public = public_url.rstrip("/")
        self._on_callback = on_callback
        self._answers = answers
        self._talk = talk
        self._clock = clock
        self._live_legs: dict[str, str] = {}  # call id -> its callback leg still up
        self._tasks: set[asyncio.Task[None]] = set()
        self.creates: dict[str, int] = {}  # call id -> Calls.json creates for it

    # --- the caller on hold ---------------------------------------------------------

    async def take_offer(self, record: CallRecord, hold_twiml: str) -> bool:
        """Take the callback offered on hold: press 1 at the offer (following the hold's
        <Redirect> once when the TwiML in hand offers nothing), 1 to confirm the caller's
        number; Twilio hangs up, and reports `completed`. False when no offer was made
        (nothing sent but the redirect), or an agent took the call before the
        confirmation: the caller holds on."""
        form = self._form(record)
        prompt = gather_prompt(hold_twiml)
        if prompt is None:
            turn = redirect_target(hold_twiml)
            if turn is None:
                return False
            hold_twiml = await self._post(self._path(turn), form, "hold redirect")
            prompt = gather_prompt(hold_twiml)
        if prompt is None or prompt.num_digits != 1:
            return False
        answer = await self._post(self._path(prompt.action), {**form, "Digits": "1"}, "offer")
        confirm = gather_prompt(answer)
        if confirm is None:
            return False
        done = await self._post(self._path(confirm.action), {**form, "Digits": "1"}, "confirm")
        if not hangs_up(done):
            if redirect_target(done) is not None:
                # back to hold: an agent took the call between the offer and the confirmation
                self._ledger.notes["callbacks confirmed as an agent took the call"] += 1
                return False
            raise ServerRefused("callback confirmation", 200, "the TwiML does not hang up")
        ended = {**form, "CallStatus": "completed", "CallbackSource": "call-progress-events"}
        ended.update(SequenceNumber="1", Timestamp=format_datetime(datetime.now(UTC)))
        await self._post("/gateways/twilio/status", ended, "status callback")
        self._ledger.events["call.ended", "sent"] += 1
        return True

    def _form(self, record: CallRecord) -> dict[str, str]:
        plan = record.plan
        return {
            "AccountSid": self._account,
            "ApiVersion": API_VERSION,
            "CallSid": plan.call_sid,
            "CallStatus": "in-progress",
            "Direction": "inbound",
            "From": plan.caller,
            "To": plan.dialed,
        }

    def _path(self, url: str) -> str:
        """The path and query of one of the server's public URLs."""
        if not url.startswith(self._public + "/"):
            raise ServerRefused("callback menu", 200, f"a TwiML URL outside {self._public}: {url}")
        return url[len(self._public) :]

    # --- the customer called back -----------------------------------------------------

    async def create_call(self, request: web.Request, agent: str | None) -> web.Response:
        """`POST .../Calls.json` (authenticated by the caller): a callback to a customer."""
        form = await request.post()
        to, from_ = str(form.get("To", "")), str(form.get("From", ""))
        status_url = str(form.get("StatusCallback", ""))
        if not to.startswith("+") or not to[1:].isdigit():
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not from_:
            return _error(400, 21603, "A 'From' phone number is required.")
        if "Twiml" not in form and "Url" not in form:
            return _error(400, 21205, "Url parameter is required.")
        call_id = dict(parse_qsl(urlsplit(status_url).query)).get("callback", "")
        record = self._ledger.record(call_id)
        if record is None:
            self._ledger.routing_error(f"{call_id or to}: a callback this run never asked for")
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        self.creates[call_id] = self.creates.get(call_id, 0) + 1
        if call_id in self._live_legs:
            self._ledger.routing_error(f"{call_id}: callback dialled twice at once")
        if agent is None:
            self._ledger.routing_error(f"{call_id}: the callback's TwiML dials no agent")
        leg = "CA" + secrets.token_hex(16)
        self._live_legs[call_id] = leg
        self._on_callback(call_id, agent, "dialled")
        task = asyncio.get_running_loop().create_task(
            self._answer(record, leg, status_url, to, from_, agent)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.json_response(_resource(self._account, leg, to, from_), status=201)

    async def _answer(
        self,
        record: CallRecord,
        leg: str,
        status_url: str,
        to: str,
        from_: str,
        agent: str | None,
    ) -> None:
        call_id = record.plan.call_sid
        outcome = self._answers(call_id)
        statuses = ["initiated", "ringing", outcome]
        try:
            for sequence, status in enumerate(statuses):
                await asyncio.sleep(RING_SECONDS)
                await self._report(status_url, leg, status, sequence, to, from_, 0)
            if outcome == ANSWERED:
                self._on_callback(call_id, agent, "answered")
                began = self._clock()
                await self._talk(record, agent)
                talk = round(self._clock() - began)
                await self._report(status_url, leg, "completed", 3, to, from_, talk)
                self._on_callback(call_id, agent, "completed")
            else:
                self._on_callback(call_id, agent, outcome)
        except ServerRefused as error:
            self._ledger.failures.append(f"{call_id}: callback leg: {error}")
            self._on_callback(call_id, agent, ERROR)
        finally:
            if self._live_legs.get(call_id) == leg:
                del self._live_legs[call_id]

    async def _report(
        self, url: str, leg: str, status: str, sequence: int, to: str, from_: str, talk: int
    ) -> None:
        form = {
            "AccountSid": self._account,
            "ApiVersion": API_VERSION,
            "CallSid": leg,
            "CallStatus": status,
            "Direction": "outbound-api",
            "From": from_,
            "To": to,
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(sequence),
            "Timestamp": format_datetime(datetime.now(UTC)),
        }
        if status not in ("initiated", "ringing", ANSWERED):
            form["CallDuration"] = str(talk)
        await self._post(self._path(url), form, "callback status callback")
        self._ledger.events[leg_event_type(status), "sent"] += 1

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _resource(account: str, sid: str, to: str, from_: str) -> dict[str, object]:
    """Twilio's call resource as `Calls.json` answers a create."""
    now = format_datetime(datetime.now(UTC))
    return {
        "sid": sid,
        "account_sid": account,
        "status": "queued",
        "direction": "outbound-api",
        "to": to,
        "from": from_,
        "parent_call_sid": None,
        "api_version": API_VERSION,
        "date_created": now,
        "date_updated": now,
        "uri": f"/{API_VERSION}/Accounts/{account}/Calls/{sid}.json",
    }


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {
            "code": code,
            "message": message,
            "status": status,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
        },
        status=status,
    )
