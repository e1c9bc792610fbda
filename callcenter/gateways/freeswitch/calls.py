"""Call control over the event socket: what each FreeSWITCH event does to the call, and what
an accepted offer does to FreeSWITCH. It is also the RouteNotifier for calls of the
`freeswitch` dialect, and the EslObserver of the event connection.

- A caller parked by the dialplan (CHANNEL_PARK, inbound): `uuid_answer`, then
  `uuid_broadcast <uuid> <hold music> aleg`; with an audio fork URL, `uuid_audio_fork <uuid>
  start <url> mono 16k <metadata>` too. (Its `call.created` came from that CHANNEL_PARK,
  mapped by the event connection just before: with call control, a leg the dialplan never
  parks is not a call.)
- An agent accepts (`route.assigned`): `bgapi originate {origination_uuid=<leg>,
  cc_call_id=<caller>,cc_agent_id=<agent>,originate_timeout=<ring s>}<dial string> &park()`.
  Answered, the leg parks (CHANNEL_PARK, outbound, with cc_call_id): `uuid_break` stops the
  music, `uuid_bridge <caller> <leg>`; the caller's CHANNEL_BRIDGE is `call.answered`.
  Not placed (BACKGROUND_JOB "-ERR <cause>") or hung up before answering: `call.agent_failed`,
  the caller keeps holding and gets their place in line back.
- After the bridge, an agent hanging up hangs up the caller (`uuid_kill`); a caller hanging
  up hangs up their agent legs (`hupall NORMAL_CLEARING cc_call_id <caller>`), ringing or
  talking.

All state is in FreeSWITCH (the legs' channel variables), so any instance can handle any
event. `connected` (each ESL (re)connect, when events may have been missed) compares `show
channels as json` with the live calls: a parked caller we never heard of is created and held;
a live call whose channel is gone is ended. Event ids make repeats duplicates."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import msgspec

from callcenter.background import BackgroundTasks
from callcenter.domain.calls import Call
from callcenter.domain.events import CallEvent, EndReason
from callcenter.domain.routing import Decision
from callcenter.errors import CallcenterError
from callcenter.gateways.callback_reports import callback_answered, callback_leg_ended
from callcenter.gateways.freeswitch.callbacks import (
    CallbackLeg,
    callback_leg_of,
    customer_leg_uuid,
    originated_callback,
)
from callcenter.gateways.freeswitch.control import EslCommandError, EslCommands
from callcenter.gateways.freeswitch.events import DIALECT, END_REASONS
from callcenter.gateways.freeswitch.legs import (
    AGENT_VARIABLE,
    CALL_VARIABLE,
    DIAL_VARIABLE,
    AgentLeg,
    agent_failed,
    agent_leg,
    answered,
    caller_found,
    caller_gone,
    channel_rows,
    event_time,
    header,
    originated_leg,
)
from callcenter.metrics import Metrics
from callcenter.settings import Settings

logger = logging.getLogger(__name__)

CONTROL_EVENTS = ("CHANNEL_PARK", "BACKGROUND_JOB")
_TASK = "freeswitch_control"
_SAMPLE_RATE = 16000


@dataclass(frozen=True, slots=True)
class EslCallSettings:
    hold_music: str = "local_stream://moh"
    agent_dial_template: str = "user/{agent_id}"  # with {agent_id}
    agent_ring_seconds: int = 30
    audio_fork_url: str = ""  # empty: no live audio


class FreeswitchCalls:
    def __init__(
        self,
        commands: EslCommands,
        apply: Callable[[CallEvent], Awaitable[None]],
        live_calls: Callable[[], Awaitable[list[str]]],
        *,
        settings: EslCallSettings,
        metrics: Metrics,
    ) -> None:
        """`apply` applies a canonical event (raising what the event service raises);
        `live_calls` gives the gateway ids of the live calls of this dialect."""
        self._commands = commands
        self._apply = apply
        self._live_calls = live_calls
        self._settings = settings
        self._metrics = metrics
        self._tasks = BackgroundTasks()

    @property
    def commands(self) -> EslCommands:
        return self._commands

    @property
    def events(self) -> tuple[str, ...]:
        return CONTROL_EVENTS

    async def apply(self, event: CallEvent) -> None:
        """Apply a canonical event (the event connection's mapped ones too)."""
        await self._apply(event)

    async def observe(self, document: dict[str, object]) -> None:
        """Act on one event. Raises nothing: failures are logged and counted."""
        try:
            await self._observe(document)
        except EslCommandError as error:
            logger.warning("FreeSWITCH %s not handled: %s", header(document, "Event-Name"), error)
            self._metrics.task_errors_total.labels(_TASK).inc()
        except CallcenterError as error:  # a conflict or stale event: counted by the service
            logger.info("FreeSWITCH %s not applied: %s", header(document, "Event-Name"), error)

    async def _observe(self, document: dict[str, object]) -> None:
        name = header(document, "Event-Name")
        if name == "BACKGROUND_JOB":
            await self._job_done(document)
            return
        leg = agent_leg(document)
        customer = callback_leg_of(document)
        channel = header(document, "Unique-ID")
        inbound = header(document, "Call-Direction") == "inbound"
        if name == "CHANNEL_PARK":
            if leg is not None:
                await self._agent_answered(leg, document)
            elif customer is not None:
                await self._customer_answered(customer)
            elif inbound:
                await self._hold(channel)
        elif name == "CHANNEL_HANGUP_COMPLETE":
            if leg is not None:
                await self._leg_ended(leg, document)
            elif customer is not None:
                await self._customer_gone(customer, _cause(document), event_time(document))
            elif inbound:
                await self._tear_down(channel)

    async def _hold(self, caller: str) -> None:
        await self._commands.api(f"uuid_answer {caller}")
        await self._commands.api(f"uuid_broadcast {caller} {self._settings.hold_music} aleg")
        if self._settings.audio_fork_url:
            await self._fork_audio(caller, caller)

    async def _fork_audio(self, channel: str, call_id: str) -> None:
        # mod_audio_fork does not announce the rate: the metadata says it (media/l16.py);
        # msgspec writes no spaces, and the module splits its arguments on them
        metadata = msgspec.json.encode(
            {"callid": call_id, "sampleRate": _SAMPLE_RATE, "mixType": "mono"}
        ).decode()
        url = self._settings.audio_fork_url
        try:
            await self._commands.api(f"uuid_audio_fork {channel} start {url} mono 16k {metadata}")
        except EslCommandError as error:  # no live audio is no reason to drop the call
            logger.warning("live audio not started: %s", error, extra={"call_id": call_id})

    async def _agent_answered(self, leg: AgentLeg, document: dict[str, object]) -> None:
        customer = _customer_channel(leg)
        try:
            await self._commands.api(f"uuid_break {customer} all")
            await self._commands.api(f"uuid_bridge {customer} {leg.leg_id}")
        except EslCommandError as error:
            if not error.no_such_channel:
                raise
            await self._kill_quietly(leg.leg_id)  # the caller is gone: nobody to talk to
            return
        if leg.dial_id is not None:  # a callback's customer has no CHANNEL_BRIDGE of ours
            at = event_time(document)
            await self._apply(
                callback_answered(DIALECT, leg.call_id, leg.dial_id, leg.agent_id, leg.leg_id, at)
            )

    async def _leg_ended(self, leg: AgentLeg, document: dict[str, object]) -> None:
        if answered(document):  # the agent talked, then hung up: the call is over
            await self._kill_quietly(_customer_channel(leg))
            return
        await self._agent_leg_failed(leg, _cause(document), event_time(document))

    async def _agent_leg_failed(self, leg: AgentLeg, cause: str, at: datetime | None) -> None:
        """A caller keeps holding, back in line; a callback's attempt is over (the customer
        is let go, to be called again later)."""
        if leg.dial_id is None:
            await self._apply(agent_failed(leg, cause, at))
            return
        await self._apply(
            callback_leg_ended(DIALECT, leg.call_id, leg.dial_id, leg.leg_id, EndReason.FAILED, at)
        )
        await self._kill_quietly(_customer_channel(leg))

    async def _customer_answered(self, customer: CallbackLeg) -> None:
        """A callback's customer picked up: hold music while the agent is rung."""
        channel = customer.leg_id
        await self._commands.api(f"uuid_broadcast {channel} {self._settings.hold_music} aleg")
        if self._settings.audio_fork_url:
            await self._fork_audio(channel, customer.call_id)
        leg = AgentLeg(str(uuid.uuid4()), customer.call_id, customer.agent_id, customer.dial_id)
        await self._ring(leg)

    async def _customer_gone(self, customer: CallbackLeg, cause: str, at: datetime | None) -> None:
        """The customer's leg ended (or was never placed): the attempt's end, or the
        call's once they talked; their agent's leg, ringing or talking, is hung up."""
        reason = END_REASONS.get(cause, EndReason.FAILED)
        await self._apply(
            callback_leg_ended(
                DIALECT, customer.call_id, customer.dial_id, customer.leg_id, reason, at
            )
        )
        await self._tear_down(customer.call_id)

    async def _job_done(self, job: dict[str, object]) -> None:
        result = header(job, "_body").strip()
        if not result.startswith("-ERR"):
            return  # not ours, or placed: its CHANNEL_PARK follows
        cause = result.removeprefix("-ERR").strip().split(" ", 1)[0] or "NORMAL_UNSPECIFIED"
        leg, customer = originated_leg(job), originated_callback(job)
        if leg is not None:
            await self._agent_leg_failed(leg, cause, event_time(job))
        elif customer is not None:
            await self._customer_gone(customer, cause, event_time(job))

    async def _tear_down(self, caller: str) -> None:
        """The caller is gone: hang up their agent legs, ringing or talking."""
        try:
            await self._commands.api(f"hupall NORMAL_CLEARING {CALL_VARIABLE} {caller}")
        except EslCommandError as error:
            logger.debug("no agent leg to hang up: %s", error, extra={"call_id": caller})

    async def _kill_quietly(self, channel: str) -> None:
        try:
            await self._commands.api(f"uuid_kill {channel}")
        except EslCommandError as error:
            if not error.no_such_channel:
                raise

    # --- catching up -----------------------------------------------------------------

    async def connected(self) -> None:
        """After a (re)connect: parked callers that arrived unheard are created and held;
        live calls whose channel is gone are ended (cause unknown: normal). Raises
        EslCommandError when FreeSWITCH cannot list its channels."""
        output = await self._commands.api("show channels as json")
        try:
            rows = channel_rows(output)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise EslCommandError("show channels", f"unreadable output: {error}") from None
        live = set(await self._live_calls())
        for row in rows:
            if row.direction == "inbound" and row.application == "park" and row.uuid not in live:
                await self._take_in(row.uuid, caller_found(row))
        present = {row.uuid for row in rows}
        for call_id in sorted(live - present):
            await self._apply(caller_gone(call_id))
            await self._tear_down(call_id)

    async def _take_in(self, caller: str, created: CallEvent) -> None:
        try:
            await self._apply(created)
            await self._hold(caller)
        except (EslCommandError, CallcenterError) as error:
            logger.warning("FreeSWITCH caller %s not taken in: %s", caller, error)
            self._metrics.task_errors_total.labels(_TASK).inc()

    # --- RouteNotifier -----------------------------------------------------------------

    async def route_event(self, kind: str, call: Call, decision: Decision | None) -> None:
        if call.dialect != DIALECT or kind != "route.assigned" or call.agent_id is None:
            return
        self._tasks.spawn(self._ring_agent(call, call.agent_id))

    async def _ring_agent(self, call: Call, agent_id: str) -> None:
        await self._ring(AgentLeg(str(uuid.uuid4()), call.gateway_call_id, agent_id))

    async def _ring(self, leg: AgentLeg) -> None:
        variables = [
            f"origination_uuid={leg.leg_id}",
            f"{CALL_VARIABLE}={leg.call_id}",
            f"{AGENT_VARIABLE}={leg.agent_id}",
            f"originate_timeout={self._settings.agent_ring_seconds}",
        ]
        if leg.dial_id is not None:
            variables.append(f"{DIAL_VARIABLE}={leg.dial_id}")
        target = self._settings.agent_dial_template.format(agent_id=leg.agent_id)
        command = f"originate {{{','.join(variables)}}}{target} &park()"
        try:
            await self._commands.bgapi(command, leg.leg_id)
            result = "delivered"
        except EslCommandError as error:
            logger.error("FreeSWITCH originate failed: %s", error, extra={"call_id": leg.call_id})
            result = "failed"
            await self._report_failure(leg)
        self._metrics.webhook_deliveries_total.labels("freeswitch.originate", result).inc()

    async def _report_failure(self, leg: AgentLeg) -> None:
        try:
            await self._agent_leg_failed(leg, "NETWORK_OUT_OF_ORDER", None)
        except (CallcenterError, EslCommandError) as error:
            logger.warning("agent leg failure not applied: %s", error)

    async def stop(self, grace_seconds: float | None = None) -> None:
        await self._tasks.stop(grace_seconds)
        await self._commands.close()


def freeswitch_calls(
    settings: Settings,
    apply: Callable[[CallEvent], Awaitable[None]],
    live_calls: Callable[[], Awaitable[list[str]]],
    *,
    metrics: Metrics,
) -> FreeswitchCalls | None:
    """Call control as the settings ask: None unless an event socket host is set."""
    if not settings.freeswitch_esl_host:
        return None
    commands = EslCommands(
        settings.freeswitch_esl_host,
        settings.freeswitch_esl_port,
        settings.freeswitch_esl_password.reveal(),
    )
    control = EslCallSettings(
        hold_music=settings.freeswitch_hold_music,
        agent_dial_template=settings.freeswitch_agent_dial_template,
        agent_ring_seconds=settings.freeswitch_agent_ring_seconds,
        audio_fork_url=settings.freeswitch_audio_fork_url,
    )
    return FreeswitchCalls(commands, apply, live_calls, settings=control, metrics=metrics)


def _customer_channel(leg: AgentLeg) -> str:
    """The channel an agent's leg is for: the caller's (the call id), or a callback's
    customer leg."""
    return leg.call_id if leg.dial_id is None else customer_leg_uuid(leg.call_id, leg.dial_id)


def _cause(document: dict[str, object]) -> str:
    return header(document, "Hangup-Cause") or "NORMAL_UNSPECIFIED"
