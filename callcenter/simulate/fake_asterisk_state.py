"""The channels and bridges behind the loopback ARI (simulate.fake_asterisk): what each REST
call and each driven action does to them, as the events Asterisk would publish, in the JSON
shapes of Asterisk's rest-api/api-docs/{channels,bridges,events}.json. Status codes and
messages are those of res/ari/resource_{channels,bridges}.c. Pure: no I/O; time comes from
the clock given."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]

ASTERISK_ID = "52:54:00:8a:3c:01"  # ast_eid_default: the MAC address of the machine
NORMAL, BUSY, NO_ANSWER = 16, 17, 19
SOFTHANGUP_EXPLICIT = 32  # ChannelHangupRequest's "cause" after an ARI hangup is this flag
# Q.850 causes: their text (main/channel.c causes[]) and the name DELETE /channels/{id}
# takes for them as `reason` (convert_reason_to_hangup_code)
_CAUSES = {
    1: ("Unallocated (unassigned) number", "unallocated"),
    3: ("No route to destination", ""),
    16: ("Normal Clearing", "normal"),
    17: ("User busy", "busy"),
    18: ("No user responding", "timeout"),
    19: ("User alerting, no answer", "no_answer"),
    20: ("Subscriber absent", ""),
    21: ("Call Rejected", "rejected"),
    26: ("Answered elsewhere", "answered_elsewhere"),
    28: ("Invalid number format", "number_incomplete"),
    31: ("Normal, unspecified", "normal_unspecified"),
    34: ("Circuit/channel congestion", "congestion"),
    38: ("Network out of order", "failure"),
    58: ("Bearer capability not available", "codec_mismatch"),
    127: ("Interworking, unspecified", "interworking"),
}
HANGUP_REASONS = {reason: cause for cause, (_, reason) in _CAUSES.items() if reason}
_NOT_ANSWERABLE = frozenset({"Down", "Rsrvd", "Ringing"})  # channel_state_invalid: 412
_CALLER_ID = re.compile(r'^\s*"?([^"<]*?)"?\s*<([^>]*)>\s*$')


class Refusal(Exception):
    """ARI refusing a request: its status and JSON body ({"message"}; {"error"} if no memory)."""

    def __init__(self, status: int, message: str, *, key: str = "message") -> None:
        super().__init__(status, message)
        self.status = status
        self.body: Json = {key: message}


@dataclass(slots=True)
class FakeChannel:
    id: str
    name: str
    endpoint: str | None  # None for an inbound channel
    caller: str
    exten: str
    state: str = "Ring"  # Ring (inbound), Down, Ringing, Up
    in_app: bool = False
    moh_class: str | None = None
    bridge_id: str | None = None
    app_args: list[str] = field(default_factory=list)
    app: str | None = None  # the application subscribed to it: its events go there
    caller_name: str = ""
    context: str = "default"
    app_name: str = ""
    app_data: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    created: float = 0.0
    protocol_id: str = ""


@dataclass(slots=True)
class FakeBridge:
    id: str
    bridge_type: str  # mixing or holding
    channels: list[str] = field(default_factory=list)
    moh_class: str | None = None
    name: str = ""
    created: float = 0.0
    apps: list[str] = field(default_factory=list)  # subscribed as their channels entered


def ari_time(at: float) -> str:
    """ast_json_timeval: 2026-12-05T10:00:00.123+0000."""
    stamp = datetime.fromtimestamp(at, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}+0000"


def _endpoint(params: dict[str, str]) -> str:
    endpoint = params.get("endpoint", "")
    if not endpoint:
        raise Refusal(400, "Endpoint must be specified")
    tech, _, resource = endpoint.partition("/")
    if not tech or not resource:
        raise Refusal(400, "Invalid endpoint specified")
    return endpoint


def hangup_cause(values: dict[str, str]) -> int:
    """DELETE /channels/{id}: reason_code (any number) or reason (a name), not both;
    normal by default."""
    code, reason = values.get("reason_code", ""), values.get("reason", "")
    if code and reason:
        raise Refusal(400, "The reason and reason_code can't both be specified")
    if code and not re.fullmatch(r"-?\d+", code):
        raise Refusal(400, "Invalid reason for hangup reason code provided")
    if reason and reason not in HANGUP_REASONS:
        raise Refusal(400, "Invalid reason for hangup reason provided")
    return int(code) if code else HANGUP_REASONS.get(reason, NORMAL)


def dial_timeout(text: str) -> float | None:
    """Seconds an originate rings: `timeout` when positive, no limit for -1, else 30."""
    seconds = int(text) if re.fullmatch(r"-?\d+", text) else 0  # atoi
    return None if seconds == -1 else float(seconds) if seconds > 0 else 30.0


class AriModel:
    """Channels and bridges by id. Each operation returns the events it publishes, each
    already addressed to its application; a refused one raises Refusal and changes nothing."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.channels: dict[str, FakeChannel] = {}
        self.bridges: dict[str, FakeBridge] = {}
        self._clock = clock
        self._epoch = int(clock())
        self._sequence = 0x19

    def channel_json(self, channel: FakeChannel) -> Json:
        found: Json = {
            "id": channel.id,
            "name": channel.name,
            "state": channel.state,
            "protocol_id": channel.protocol_id,
            "caller": {"name": channel.caller_name, "number": channel.caller},
            "connected": {"name": "", "number": ""},
            "accountcode": "",
            "dialplan": {
                "context": channel.context,
                "exten": channel.exten,
                "priority": 1,
                "app_name": channel.app_name,
                "app_data": channel.app_data,
            },
            "creationtime": ari_time(channel.created),
            "language": "en",
        }
        if channel.endpoint is not None:  # an originate sets the connected line too
            found["connected"] = dict(found["caller"])
        if channel.variables:
            found["channelvars"] = dict(channel.variables)
        return found

    def bridge_json(self, bridge: FakeBridge) -> Json:
        return {
            "id": bridge.id,
            "technology": "holding_bridge" if bridge.bridge_type == "holding" else "simple_bridge",
            "bridge_type": bridge.bridge_type,
            "bridge_class": "stasis",
            "creator": "Stasis",
            "name": bridge.name,
            "channels": list(bridge.channels),
            "creationtime": ari_time(bridge.created),
            "video_mode": "none",
        }

    def event(self, kind: str, application: str, **fields: Any) -> Json:
        return {
            "type": kind,
            "timestamp": ari_time(self._clock()),
            **fields,
            "asterisk_id": ASTERISK_ID,
            "application": application,
        }

    def _of(self, channel: FakeChannel, kind: str, **fields: Any) -> list[Json]:
        """The event about `channel`, for the application subscribed to it (if any)."""
        if channel.app is None:
            return []
        return [self.event(kind, channel.app, **fields, channel=self.channel_json(channel))]

    def arrive(
        self, caller: str, exten: str, app: str, variables: dict[str, str], channel_id: str = ""
    ) -> tuple[FakeChannel, list[Json]]:
        """A call from a trunk reaching Stasis(app) in the dialplan: StasisStart, no args.
        `channel_id`: its id (else a uniqueid), as a dialplan's originating side may set."""
        channel = self.new_channel(
            "PJSIP/trunk",
            channel_id,
            endpoint=None,
            caller=caller,
            exten=exten,
            in_app=True,
            app=app,
            context="from-trunk",
            app_name="Stasis",
            app_data=app,
            variables=dict(variables),
        )
        return channel, self._of(channel, "StasisStart", args=[])

    def new_channel(self, name: str, channel_id: str, **fields: Any) -> FakeChannel:
        """A channel PJSIP/ann-0000001b, its id `channel_id` or a uniqueid (1796464800.27)."""
        self._sequence += 1
        sequence = self._sequence
        channel = FakeChannel(
            id=channel_id or f"{self._epoch}.{sequence}",
            name=f"{name}-{sequence:08x}",
            created=self._clock(),
            protocol_id=str(uuid.uuid4()),  # chan_pjsip's SIP Call-ID
            **fields,
        )
        self.channels[channel.id] = channel
        return channel

    def originate(
        self, params: dict[str, str], variables: dict[str, str], *, reachable: bool
    ) -> FakeChannel:
        """POST /channels: a channel in state Down, subscribed to `app`, not yet dialled."""
        endpoint = _endpoint(params)
        app = params.get("app") or None
        if app is None and not params.get("extension"):
            raise Refusal(400, "Application or extension must be specified")
        channel_id = params.get("channelId") or ""
        if channel_id in self.channels:
            raise Refusal(409, "Channel with given unique ID already exists")
        if not reachable:  # ast_request fails (no contact): ast_ari_response_alloc_failed
            raise Refusal(500, "Allocation failed", key="error")
        caller_id = params.get("callerId", "")  # "Name <number>" or a number
        named = _CALLER_ID.match(caller_id)
        name, number = named.groups() if named else ("", caller_id)
        args = params.get("appArgs", "")
        return self.new_channel(
            endpoint,
            channel_id,
            endpoint=endpoint,
            caller=number,
            caller_name=name,
            exten="s",
            state="Down",
            app_args=args.split(",") if args else [],
            app=app,
            app_name="AppDial2",
            app_data="(Outgoing Line)",
            variables=dict(variables),
        )

    def set_state(self, channel_id: str, state: str) -> list[Json]:
        channel = self.channels[channel_id]
        if channel.state == state:
            return []
        channel.state = state
        return self._of(channel, "ChannelStateChange")

    def answered_leg(self, channel_id: str) -> list[Json]:
        """An originated leg answered: Up, then into its application with the args."""
        channel = self.channels[channel_id]
        events = self.set_state(channel_id, "Up")
        if channel.app is not None:
            channel.in_app = True
            channel.app_name = "Stasis"
            channel.app_data = ",".join([channel.app, *channel.app_args])
            events += self._of(channel, "StasisStart", args=list(channel.app_args))
        return events

    def control(self, channel_id: str) -> FakeChannel:
        """A channel in Stasis, for the channel resources (404, 409, 412)."""
        channel = self.channel(channel_id)
        if not channel.in_app:
            raise Refusal(409, "Channel not in Stasis application")
        if channel.state in _NOT_ANSWERABLE:
            raise Refusal(412, "Channel in invalid state")
        return channel

    def answer(self, channel_id: str) -> list[Json]:
        self.control(channel_id)
        return self.set_state(channel_id, "Up")

    def channel_moh(self, channel_id: str, moh_class: str | None) -> list[Json]:
        """Music on hold starts (a class) or stops (None); no event says so."""
        self.control(channel_id).moh_class = moh_class
        return []

    def channel(self, channel_id: str) -> FakeChannel:
        found = self.channels.get(channel_id)
        if found is None:
            raise Refusal(404, "Channel not found")
        return found

    def dtmf(self, channel_id: str, digit: str) -> list[Json]:
        channel = self.channels[channel_id]
        return self._of(channel, "ChannelDtmfReceived", digit=digit, duration_ms=120)

    def hang_up(self, channel_id: str, cause: int, *, by_ari: bool) -> list[Json]:
        """The channel hangs up: by the far end (a hangup request with its cause) or by
        ARI (ast_softhangup: the request's cause is the flag, and `soft`)."""
        channel = self.channels[channel_id]
        request = {"cause": SOFTHANGUP_EXPLICIT, "soft": True} if by_ari else {"cause": cause}
        return self._of(channel, "ChannelHangupRequest", **request) + self.vanish(channel_id, cause)

    def vanish(self, channel_id: str, cause: int) -> list[Json]:
        """The channel ends with no hangup request: out of its bridge and app, destroyed."""
        channel = self.channels[channel_id]
        events = self._leave_bridge(channel)
        if channel.in_app:
            channel.in_app = False
            events += self._of(channel, "StasisEnd")
        return events + self.destroy(channel_id, cause)

    def destroy(self, channel_id: str, cause: int) -> list[Json]:
        channel = self.channels.pop(channel_id)
        text = _CAUSES.get(cause, ("Unknown", ""))[0]
        return self._of(channel, "ChannelDestroyed", cause=cause, cause_txt=text)

    def create_bridge(self, bridge_id: str, kinds: str, name: str) -> FakeBridge:
        """POST /bridges[/{id}]: an id in use is 409 (since 20.12, 21.7 and 22.2)."""
        if bridge_id in self.bridges:
            raise Refusal(409, f"Bridge with id '{bridge_id}' already exists")
        bridge = FakeBridge(
            id=bridge_id or str(uuid.uuid4()),
            bridge_type="holding" if "holding" in kinds.split(",") else "mixing",
            name=name,
            created=self._clock(),
        )
        self.bridges[bridge.id] = bridge
        return bridge

    def bridge(self, bridge_id: str) -> FakeBridge:
        found = self.bridges.get(bridge_id)
        if found is None:
            raise Refusal(404, "Bridge not found")
        return found

    def bridge_moh(self, bridge_id: str, moh_class: str | None) -> list[Json]:
        bridge = self.bridge(bridge_id)
        if moh_class is None and bridge.moh_class is None:
            raise Refusal(409, "Bridge isn't playing music")
        bridge.moh_class = moh_class
        return []

    def destroy_bridge(self, bridge_id: str) -> list[Json]:
        bridge = self.bridge(bridge_id)
        events: list[Json] = []
        for channel_id in list(bridge.channels):
            events += self._leave_bridge(self.channels[channel_id])
        del self.bridges[bridge_id]
        return events + [
            self.event("BridgeDestroyed", app, bridge=self.bridge_json(bridge))
            for app in bridge.apps
        ]

    def _members(self, channels: str) -> list[FakeChannel]:
        """The `channel` parameter's channels, each in Stasis (400, 422)."""
        ids = [channel_id for channel_id in channels.split(",") if channel_id]
        if not ids:
            raise Refusal(400, "Missing parameter channel")
        if any(channel_id not in self.channels for channel_id in ids):
            raise Refusal(400, "Channel not found")
        members = [self.channels[channel_id] for channel_id in ids]
        if not all(channel.in_app for channel in members):
            raise Refusal(422, "Channel not in Stasis application")
        return members

    def add_channels(self, bridge_id: str, channels: str) -> list[Json]:
        """Each channel leaves the bridge it was in and enters this one."""
        bridge = self.bridge(bridge_id)
        events: list[Json] = []
        for channel in self._members(channels):
            if channel.bridge_id == bridge_id:
                continue
            events += self._leave_bridge(channel)
            bridge.channels.append(channel.id)
            channel.bridge_id = bridge_id
            if channel.app is not None and channel.app not in bridge.apps:
                bridge.apps.append(channel.app)
            events += self._of(channel, "ChannelEnteredBridge", bridge=self.bridge_json(bridge))
        return events

    def remove_channels(self, bridge_id: str, channels: str) -> list[Json]:
        self.bridge(bridge_id)
        members = self._members(channels)
        if any(channel.bridge_id != bridge_id for channel in members):
            raise Refusal(422, "Channel not in this bridge")
        events: list[Json] = []
        for channel in members:
            events += self._leave_bridge(channel)
        return events

    def _leave_bridge(self, channel: FakeChannel) -> list[Json]:
        bridge = self.bridges.get(channel.bridge_id or "")
        channel.bridge_id = None
        if bridge is None:
            return []
        bridge.channels.remove(channel.id)
        return self._of(channel, "ChannelLeftBridge", bridge=self.bridge_json(bridge))
