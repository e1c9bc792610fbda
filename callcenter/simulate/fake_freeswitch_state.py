"""The channels of the loopback FreeSWITCH (simulate.fake_freeswitch) and the API commands
that act on them, answering as mod_commands does ("+OK ..." / "-ERR ..."). Every change
returns the events FreeSWITCH would fire, as `text/event-json` documents. Standard library
only."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

Event = dict[str, str]
NO_SUCH_CHANNEL = "-ERR No such channel!"
ENDPOINT_BEHAVIOURS = frozenset({"answer", "no_answer", "busy", "not_registered", "rejected"})
_FAILURE_CAUSES = {
    "no_answer": "NO_ANSWER",
    "busy": "USER_BUSY",
    "not_registered": "USER_NOT_REGISTERED",
    "rejected": "CALL_REJECTED",
}


@dataclass(slots=True)
class FakeChannel:
    uuid: str
    direction: str  # inbound | outbound
    cid_num: str = ""
    cid_name: str = ""
    dest: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    created_us: int = 0
    answered_us: int = 0
    application: str = ""  # park while parked, else what runs now
    playing: str = ""  # uuid_broadcast's path until uuid_break or a bridge
    bridged_to: str = ""
    audio_fork: str = ""  # uuid_audio_fork's URL once started


@dataclass(frozen=True, slots=True)
class Originate:
    """A parsed `originate {a=b,...}<dial string> &park()`."""

    variables: dict[str, str]
    target: str
    application: str


def parse_originate(argument: str) -> Originate | None:
    variables: dict[str, str] = {}
    text = argument.strip()
    if text.startswith("{"):
        end = text.find("}")
        if end < 0:
            return None
        for item in text[1:end].split(","):
            name, _, value = item.partition("=")
            variables[name] = value
        text = text[end + 1 :]
    target, _, application = text.partition(" ")
    if not target:
        return None
    return Originate(variables, target, application.strip() or "&park()")


class ChannelModel:
    """The switch's channels; each method returns (reply text, events fired, in order)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.channels: dict[str, FakeChannel] = {}
        self.endpoints: dict[str, str] = {}
        self._clock = clock
        self._sequence = itertools.count(1)
        self.core_uuid = str(uuid.uuid4())

    def now_us(self) -> int:
        return int(self._clock() * 1_000_000)

    def event(self, name: str, channel: FakeChannel, **extra: str) -> Event:
        document: Event = {
            "Event-Name": name,
            "Core-UUID": self.core_uuid,
            "Event-Date-Timestamp": str(self.now_us()),
            "Event-Sequence": str(next(self._sequence)),
            "Unique-ID": channel.uuid,
            "Call-Direction": channel.direction,
            "Caller-Caller-ID-Number": channel.cid_num,
            "Caller-Caller-ID-Name": channel.cid_name,
            "Caller-Destination-Number": channel.dest,
            "Caller-Channel-Created-Time": str(channel.created_us),
            "Caller-Channel-Answered-Time": str(channel.answered_us),
            "Answer-State": "answered" if channel.answered_us else "ringing",
        }
        document.update({f"variable_{k}": v for k, v in channel.variables.items()})
        document.update(extra)
        return document

    def create(self, channel: FakeChannel) -> list[Event]:
        channel.created_us = self.now_us()
        self.channels[channel.uuid] = channel
        return [self.event("CHANNEL_CREATE", channel)]

    def park(self, channel: FakeChannel) -> list[Event]:
        channel.application = "park"
        return [self.event("CHANNEL_PARK", channel)]

    def answer(self, channel: FakeChannel) -> list[Event]:
        if channel.answered_us:
            return []
        channel.answered_us = self.now_us()
        return [self.event("CHANNEL_ANSWER", channel)]

    def hang_up(self, channel_id: str, cause: str) -> list[Event]:
        channel = self.channels.pop(channel_id, None)
        if channel is None:
            return []
        other = self.channels.get(channel.bridged_to)
        events = []
        if other is not None:  # the other leg stays up: hanging it up is the controller's
            other.bridged_to = ""
            events.append(self.event("CHANNEL_UNBRIDGE", other))
        events.append(self.event("CHANNEL_HANGUP_COMPLETE", channel, **{"Hangup-Cause": cause}))
        return events

    # --- API commands ----------------------------------------------------------------

    def api(self, command: str) -> tuple[str, list[Event]]:
        """The reply to `api <command>` and the events it fires."""
        verb, _, rest = command.strip().partition(" ")
        args = rest.split()
        handler = self._handlers().get(verb)
        if handler is None:
            return f"-ERR {verb} Command not found!", []
        return handler(args)

    def _handlers(self) -> dict[str, Callable[[list[str]], tuple[str, list[Event]]]]:
        return {
            "uuid_answer": self._uuid_answer,
            "uuid_broadcast": self._uuid_broadcast,
            "uuid_break": self._uuid_break,
            "uuid_bridge": self._uuid_bridge,
            "uuid_kill": self._uuid_kill,
            "uuid_audio_fork": self._uuid_audio_fork,
            "uuid_exists": lambda args: (str(bool(args) and args[0] in self.channels).lower(), []),
            "hupall": self._hupall,
            "show": self._show,
        }

    def _uuid_answer(self, args: list[str]) -> tuple[str, list[Event]]:
        channel = self.channels.get(args[0] if args else "")
        if channel is None:
            return NO_SUCH_CHANNEL, []
        return "+OK", self.answer(channel)

    def _uuid_broadcast(self, args: list[str]) -> tuple[str, list[Event]]:
        channel = self.channels.get(args[0] if args else "")
        if channel is None or len(args) < 2:
            return "-ERR Usage: uuid_broadcast <uuid> <path> [aleg|bleg|both]", []
        channel.playing = args[1]
        return "+OK Message sent", []

    def _uuid_break(self, args: list[str]) -> tuple[str, list[Event]]:
        channel = self.channels.get(args[0] if args else "")
        if channel is None:
            return NO_SUCH_CHANNEL, []
        channel.playing = ""
        return "+OK", []

    def _uuid_bridge(self, args: list[str]) -> tuple[str, list[Event]]:
        if len(args) < 2 or not all(a in self.channels for a in args[:2]):
            return "-ERR Invalid uuid", []
        first, second = self.channels[args[0]], self.channels[args[1]]
        for channel, other in ((first, second), (second, first)):
            channel.bridged_to, channel.playing, channel.application = other.uuid, "", "bridge"
        fired = self.event(
            "CHANNEL_BRIDGE",
            first,
            **{"Bridge-A-Unique-ID": first.uuid, "Bridge-B-Unique-ID": second.uuid},
            **{"Other-Leg-Unique-ID": second.uuid},
        )
        return f"+OK {second.uuid}", [fired]

    def _uuid_kill(self, args: list[str]) -> tuple[str, list[Event]]:
        if not args or args[0] not in self.channels:
            return NO_SUCH_CHANNEL, []
        return "+OK", self.hang_up(args[0], args[1] if len(args) > 1 else "NORMAL_CLEARING")

    def _hupall(self, args: list[str]) -> tuple[str, list[Event]]:
        cause = args[0] if args else "MANAGER_REQUEST"
        matched = [
            c.uuid
            for c in self.channels.values()
            if len(args) < 3 or c.variables.get(args[1]) == args[2]
        ]
        events = [e for channel_id in matched for e in self.hang_up(channel_id, cause)]
        return f"+OK hangup all channels with cause {cause}", events

    def _uuid_audio_fork(self, args: list[str]) -> tuple[str, list[Event]]:
        channel = self.channels.get(args[0] if args else "")
        if channel is None:
            return NO_SUCH_CHANNEL, []
        if len(args) < 3 or args[1] != "start":
            return "-USAGE: uuid_audio_fork <uuid> start <url> <mix> <rate> <metadata>", []
        channel.audio_fork = args[2]
        return "+OK Success", []

    def _show(self, args: list[str]) -> tuple[str, list[Event]]:
        if args != ["channels", "as", "json"]:
            return "-ERR only `show channels as json` here", []
        rows = [
            {
                "uuid": c.uuid,
                "direction": c.direction,
                "created_epoch": str(c.created_us // 1_000_000),
                "cid_name": c.cid_name,
                "cid_num": c.cid_num,
                "dest": c.dest,
                "application": c.application,
                "callstate": "ACTIVE" if c.answered_us else "RINGING",
            }
            for c in self.channels.values()
        ]
        if not rows:
            return json.dumps({"row_count": 0}), []
        return json.dumps({"row_count": len(rows), "rows": rows}), []

    # --- originate ---------------------------------------------------------------------

    def originate_leg(self, order: Originate) -> tuple[FakeChannel | None, str]:
        """The leg an originate creates (None when the endpoint is not registered) and how
        it will end: "answer" or a Hangup-Cause."""
        behaviour = self.endpoints.get(order.target, "answer")
        outcome = _FAILURE_CAUSES.get(behaviour, "answer")
        if behaviour == "not_registered":
            return None, outcome
        leg = FakeChannel(
            uuid=order.variables.get("origination_uuid") or str(uuid.uuid4()),
            direction="outbound",
            dest=order.target,
            variables={k: v for k, v in order.variables.items() if k != "origination_uuid"},
        )
        return leg, outcome
