"""Call control over ARI: what each Asterisk event does to the call, and what an accepted
offer does to Asterisk. It is also the RouteNotifier for calls of the `asterisk` dialect.

- A caller's channel enters the application (StasisStart, no args): `call.created`, then it
  is answered and held in its own holding bridge (`cc-hold-<call>`) with music on hold.
- DTMF on it: `call.dtmf`. Its end (ChannelDestroyed): `call.ended` with the mapped cause;
  an agent's leg still up is hung up and the call's bridges are taken down.
- An agent accepts (`route.assigned`): a leg is originated to the agent's endpoint (template,
  e.g. `PJSIP/{agent_id}`), entering the application with args [agent, call, agent id].
  Answered (its StasisStart): caller and agent talk in a mixing bridge (`cc-talk-<call>`),
  `call.answered`. Not answered, busy, or refused by ARI: `call.agent_failed`, the caller
  keeps holding and gets their place in line back.
- An agent hanging up after talking hangs up the caller (their `call.ended` follows).
- A callback's customer answering (StasisStart of `cc-callback:<call>:<dial>`, see
  ari_callbacks): held likewise, and the agent who accepted is rung; the agent answering
  bridges them and answers the attempt (`call.answered` tagged with its `dial_id`). The
  customer's leg ending before that, or the agent's failing, ends the attempt (`call.ended`
  tagged, so the callback is tried again later or given up).

All state is in Asterisk (bridges and channel ids named after the call), so nothing is lost
when this instance restarts and any instance can handle any event. `reconcile` (after each
websocket (re)connect, when events may have been missed) compares Asterisk's channels with
the live calls: a caller we never heard of is created and held; a live call whose channel
is gone is ended. Event ids make what was already applied a duplicate."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from callcenter.background import BackgroundTasks
from callcenter.domain.calls import Call
from callcenter.domain.events import CallEvent, EndReason
from callcenter.domain.routing import Decision
from callcenter.errors import CallcenterError
from callcenter.gateways.asterisk.ari_events import (
    AGENT_ARG,
    CALLBACK_ARG,
    DIALECT,
    AriEvent,
    Channel,
    ChannelDestroyed,
    ChannelDtmfReceived,
    StasisStart,
    agent_answered,
    agent_failed,
    agent_leg_id,
    agent_leg_of,
    call_created,
    call_dtmf,
    call_ended,
    callback_agent_leg_id,
    callback_leg_id,
    callback_leg_of,
    dial_of_agent_leg,
    end_reason,
)
from callcenter.gateways.asterisk.ari_listen import AriListener, listening_call
from callcenter.gateways.asterisk.ari_rest import AriError, AriRest
from callcenter.gateways.callback_reports import callback_answered, callback_leg_ended
from callcenter.metrics import Metrics

logger = logging.getLogger(__name__)

_FAILED_CAUSE = 38  # network out of order: ARI refused to place the leg
_IN_USE = 409  # "Channel with given unique ID already exists"


@dataclass(frozen=True, slots=True)
class AriCallSettings:
    app: str = "callcenter"
    music_class: str = "default"
    agent_endpoint: str = "PJSIP/{agent_id}"  # with {agent_id}
    agent_ring_seconds: int = 30


def hold_bridge(call_id: str) -> str:
    return f"cc-hold-{call_id}"


def talk_bridge(call_id: str) -> str:
    return f"cc-talk-{call_id}"


class AriCalls:
    def __init__(
        self,
        rest: AriRest,
        apply: Callable[[CallEvent], Awaitable[None]],
        live_calls: Callable[[], Awaitable[list[str]]],
        *,
        settings: AriCallSettings,
        metrics: Metrics,
        listener: AriListener | None = None,
    ) -> None:
        """`apply` applies a canonical event (raising what the event service raises);
        `live_calls` gives the ids of the live calls of this dialect; `listener` (when live
        audio is configured) listens to callers and agents."""
        self._rest = rest
        self._apply = apply
        self._live_calls = live_calls
        self._settings = settings
        self._metrics = metrics
        self._listener = listener
        self._tasks = BackgroundTasks()

    @property
    def rest(self) -> AriRest:
        return self._rest

    async def audio_alias(self, leg_uuid: str) -> tuple[str, str] | None:
        """(call id, track) of a UUID handed to Asterisk for a leg's live audio."""
        return await self._listener.alias(leg_uuid) if self._listener is not None else None

    async def handle(self, event: AriEvent) -> None:
        """Act on one event. Raises nothing: failures are logged and counted."""
        try:
            await self._handle(event)
        except (AriError, CallcenterError) as error:
            logger.warning("ARI %s not handled: %s", type(event).__name__, error)
            self._metrics.task_errors_total.labels("asterisk_ari").inc()

    async def _handle(self, event: AriEvent) -> None:
        if isinstance(event, StasisStart):
            if event.args[:1] == [AGENT_ARG]:
                await self._agent_answered(event)
            elif event.args[:1] == [CALLBACK_ARG]:
                await self._customer_answered(event)
            elif not event.args and not event.channel.is_ours:
                await self._caller_arrived(event.channel, event)
        elif isinstance(event, ChannelDtmfReceived) and not event.channel.is_ours:
            await self._emit(call_dtmf(event))
        elif isinstance(event, ChannelDestroyed) and listening_call(event.channel.id) is None:
            await self._destroyed(event)

    async def _caller_arrived(self, channel: Channel, event: StasisStart | None) -> None:
        await self._emit(call_created(channel, event.timestamp if event else None))
        if channel.state != "Up":
            await self._rest.answer(channel.id)
        await self._rest.hold(channel.id, hold_bridge(channel.id), self._settings.music_class)
        if self._listener is not None:
            await self._listener.listen(channel.id, channel.id, "caller")

    async def _agent_answered(self, event: StasisStart) -> None:
        leg = event.channel.id
        mapped = agent_leg_of(leg)
        if mapped is None:
            await self._rest.hang_up(leg)
            return
        call_id, agent_id = mapped
        dial_id = dial_of_agent_leg(leg)
        customer = call_id if dial_id is None else callback_leg_id(call_id, dial_id)
        try:
            await self._rest.bridge(talk_bridge(call_id), [customer, leg])
        except AriError as error:
            if not error.not_found:
                raise
            await self._rest.hang_up(leg)  # the caller is gone: nobody to talk to
            await self._rest.destroy_bridge(talk_bridge(call_id))
            return
        await self._rest.destroy_bridge(hold_bridge(call_id))
        if dial_id is None:
            await self._emit(agent_answered(call_id, agent_id, leg, event.timestamp))
        else:
            await self._emit(
                callback_answered(DIALECT, call_id, dial_id, agent_id, leg, event.timestamp)
            )
        if self._listener is not None:
            await self._listener.listen(call_id, leg, "agent")

    async def _destroyed(self, event: ChannelDestroyed) -> None:
        channel = event.channel
        mapped = agent_leg_of(channel.id)
        callback = callback_leg_of(channel.id)
        if callback is not None:
            call_id, dial_id = callback
            reason = end_reason(event.cause)
            await self._emit(
                callback_leg_ended(DIALECT, call_id, dial_id, channel.id, reason, event.timestamp)
            )
            await self._tear_down(call_id, channel.id)
        elif mapped is None:
            await self._emit(call_ended(channel.id, event.cause, event.timestamp))
            await self._tear_down(channel.id, channel.id)
        elif channel.state == "Up":  # the agent talked, then hung up: the call is over
            await self._hang_up_others(talk_bridge(mapped[0]), channel.id)
        else:
            await self._agent_leg_failed(mapped[0], mapped[1], event)

    async def _agent_leg_failed(self, call_id: str, agent_id: str, event: ChannelDestroyed) -> None:
        """An agent's leg that never answered: a caller keeps holding, back in line; a
        callback's attempt is over (the customer is let go, to be called again later)."""
        leg, at = event.channel.id, event.timestamp
        dial_id = dial_of_agent_leg(leg)
        if dial_id is None:
            await self._emit(agent_failed(call_id, agent_id, leg, event.cause, at))
            return
        await self._emit(callback_leg_ended(DIALECT, call_id, dial_id, leg, EndReason.FAILED, at))
        await self._hang_up_quietly(callback_leg_id(call_id, dial_id))

    async def _tear_down(self, call_id: str, customer: str) -> None:
        """The caller (`customer`, their channel) is gone: hang up whoever is still in the
        talk bridge, remove both bridges."""
        await self._hang_up_others(talk_bridge(call_id), customer)
        await self._rest.destroy_bridge(talk_bridge(call_id))
        await self._rest.destroy_bridge(hold_bridge(call_id))
        if self._listener is not None:
            await self._listener.stop(call_id)

    async def _hang_up_others(self, bridge_id: str, channel_id: str) -> None:
        """Hang up every channel in `bridge_id` but `channel_id`."""
        for other in await self._rest.bridge_channels(bridge_id):
            if other != channel_id:
                await self._hang_up_quietly(other)

    async def _hang_up_quietly(self, channel_id: str) -> None:
        try:
            await self._rest.hang_up(channel_id)
        except AriError as error:
            if not error.not_found:
                raise

    async def _emit(self, event: CallEvent) -> None:
        await self._apply(event)

    async def reconcile(self) -> None:
        """After a (re)connect: callers that arrived unheard are created and held; legs of
        ours answered unheard (an agent's, a callback's customer) are bridged or held as
        their StasisStart would have; live calls whose channel is gone are ended (cause
        unknown: normal). Raises AriError when Asterisk cannot list its channels."""
        present = await self._rest.channels()
        live = await self._live_calls()
        ids = {channel.id for channel in present}
        for channel in present:
            app, *args = channel.dialplan.app_data.split(",")
            if app != self._settings.app:
                continue
            if not channel.is_ours and channel.id not in live:
                await self.handle_arrival(channel)
            elif channel.state == "Up" and args[:1] in ([AGENT_ARG], [CALLBACK_ARG]):
                await self._answered_unheard(channel, args)
        for call_id in live:
            if call_id not in ids:
                await self._emit(call_ended(call_id, 0, None))
                await self._tear_down(call_id, call_id)

    async def _answered_unheard(self, channel: Channel, args: list[str]) -> None:
        """A leg of ours that is up in the application: unless it already is where its
        StasisStart put it (the agent's in the talk bridge, the customer's in the hold or
        talk bridge), act on that StasisStart now."""
        mapped = agent_leg_of(channel.id) or callback_leg_of(channel.id)
        if mapped is None:
            return
        where = [talk_bridge(mapped[0])]
        if args[0] == CALLBACK_ARG:
            where.append(hold_bridge(mapped[0]))
        for bridge_id in where:
            if channel.id in await self._rest.bridge_channels(bridge_id):
                return
        await self.handle(StasisStart(channel=channel, args=args))

    async def handle_arrival(self, channel: Channel) -> None:
        try:
            await self._caller_arrived(channel, None)
        except (AriError, CallcenterError) as error:
            logger.warning("ARI channel %s not taken in: %s", channel.id, error)
            self._metrics.task_errors_total.labels("asterisk_ari").inc()

    # --- RouteNotifier -------------------------------------------------------------------

    async def route_event(self, kind: str, call: Call, decision: Decision | None) -> None:
        if call.dialect != DIALECT or kind != "route.assigned" or call.agent_id is None:
            return
        self._tasks.spawn(self._ring_agent(call, call.agent_id))

    async def _ring_agent(self, call: Call, agent_id: str) -> None:
        call_id = call.gateway_call_id
        leg = agent_leg_id(call_id, agent_id, secrets.token_hex(4))
        if not await self._originate_agent(call_id, agent_id, leg, call.from_):
            try:
                await self._emit(agent_failed(call_id, agent_id, leg, _FAILED_CAUSE, None))
            except CallcenterError as error:
                logger.warning("agent leg failure not applied: %s", error)

    async def _customer_answered(self, event: StasisStart) -> None:
        """A callback's customer picked up: held with music while the agent who accepted
        the callback is rung (args: callback, call id, dial id, agent id, number)."""
        leg = event.channel.id
        if len(event.args) != 5 or callback_leg_of(leg) != (event.args[1], event.args[2]):
            await self._rest.hang_up(leg)
            return
        _, call_id, dial_id, agent_id, number = event.args
        await self._rest.hold(leg, hold_bridge(call_id), self._settings.music_class)
        agent_leg = callback_agent_leg_id(call_id, agent_id, dial_id)
        if not await self._originate_agent(call_id, agent_id, agent_leg, number):
            await self._emit(
                callback_leg_ended(
                    DIALECT, call_id, dial_id, agent_leg, EndReason.FAILED, event.timestamp
                )
            )
            await self._hang_up_quietly(leg)
            return
        if self._listener is not None:
            await self._listener.listen(call_id, leg, "caller")

    async def _originate_agent(
        self, call_id: str, agent_id: str, leg: str, caller_id: str | None
    ) -> bool:
        """Ring `agent_id` on channel `leg` for `call_id`; False when ARI refused it. A
        leg id in use (409: a callback's agent leg, placed before a reconnect asked again)
        is ringing already."""
        try:
            await self._rest.originate(
                self._settings.agent_endpoint.format(agent_id=agent_id),
                channel_id=leg,
                app=self._settings.app,
                app_args=[AGENT_ARG, call_id, agent_id],
                caller_id=caller_id or None,
                timeout_seconds=self._settings.agent_ring_seconds,
            )
        except AriError as error:
            if error.status == _IN_USE:
                return True
            logger.error("ARI originate failed: %s", error, extra={"call_id": call_id})
            self._metrics.webhook_deliveries_total.labels("asterisk.originate", "failed").inc()
            return False
        self._metrics.webhook_deliveries_total.labels("asterisk.originate", "delivered").inc()
        return True

    async def stop(self, grace_seconds: float | None = None) -> None:
        await self._tasks.stop(grace_seconds)
