"""The YAML shape of a scenario file, as msgspec types: decoding a file's mapping into
these checks every field's type and range (scenario_loader.py adds what they cannot say)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}(?!\n)$")]
Seconds = Annotated[float, msgspec.Meta(ge=0)]
Positive = Annotated[float, msgspec.Meta(gt=0)]
Share = Annotated[float, msgspec.Meta(ge=0, le=1)]
Weight = Annotated[float, msgspec.Meta(ge=0)]
TierName = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_-]{1,32}$")]
PhoneNumber = Annotated[str, msgspec.Meta(pattern=r"^\+?[0-9]{3,15}$")]
AgentIdPattern = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.@{}-]{1,64}$")]
Mood = Literal["angry", "neutral", "happy"]
TextChannelName = Literal["chat", "sms", "email"]
# per channel, the most an agent holds at once (the server's `capacity`)
Capacity = dict[Literal["voice", "chat", "sms", "email"], Annotated[int, msgspec.Meta(ge=0, le=50)]]


class ExponentialSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    mean: Positive


class UniformSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    low: Seconds
    high: Seconds


class LognormalSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    mean: Positive
    sd: Positive


class DistributionSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Exactly one of these; a bare number is a constant."""

    exponential: ExponentialSpec | None = None
    uniform: UniformSpec | None = None
    lognormal: LognormalSpec | None = None
    constant: Seconds | None = None


Durations = Seconds | DistributionSpec


class PoissonSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Exactly one rate: per second, minute or hour, or the agents' target occupancy."""

    per_second: Positive | None = None
    per_minute: Positive | None = None
    per_hour: Positive | None = None
    occupancy: Annotated[float, msgspec.Meta(gt=0, lt=1)] | None = None


class ArrivalsSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    poisson: PoissonSpec | None = None
    trace: Annotated[str, msgspec.Meta(min_length=1)] | None = None


class QueueSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    number: PhoneNumber | None = None
    share: Weight = 1.0
    handle_seconds: Durations | None = None
    patience_seconds: Durations | msgspec.UnsetType | None = msgspec.UNSET
    callback_share: Share | None = None  # None: the scenario's
    callback_answer_share: Share | None = None


class CountRange(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    low: Annotated[int, msgspec.Meta(ge=0, le=50)]
    high: Annotated[int, msgspec.Meta(ge=0, le=50)]


Count = Annotated[int, msgspec.Meta(ge=0, le=50)] | CountRange  # N, or uniform {low, high}


class TextChannelSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Exactly one of: a share of the scenario's arrivals (taken from the callers), or a
    rate of its own (per second, minute or hour, on top of them)."""

    share: Share | None = None
    per_second: Positive | None = None
    per_minute: Positive | None = None
    per_hour: Positive | None = None
    queue: Name | None = None  # None: the text section's
    handle_seconds: Durations | None = None
    patience_seconds: Durations | msgspec.UnsetType | None = msgspec.UNSET


class TextSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Customers who write in (chat, SMS, email) beside the callers; the channels' settings
    override the section's."""

    channels: Annotated[dict[TextChannelName, TextChannelSpec], msgspec.Meta(min_length=1)]
    queue: Name | None = None  # None: the scenario's first queue
    messages: Count = 2  # the customer's, per conversation (the first opens it)
    think_seconds: Durations = 10.0  # the customer's pause between two messages
    patience_seconds: Durations | None = None  # for an agent's accept; None: as long as it takes
    handle_seconds: Durations = 60.0  # the agent's work: accept to resolve
    # the agent's replies to a chat, each after the customer's message it answers
    replies: Count = msgspec.field(default_factory=lambda: CountRange(low=1, high=2))
    reply_seconds: Durations = 3.0  # the agent's typing time per reply
    moods: dict[Mood, Weight] = msgspec.field(default_factory=lambda: {"neutral": 1.0})


class CallersSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    population: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] = 1000
    repeat_share: Share = 0.1
    tiers: dict[TierName, Weight] = msgspec.field(default_factory=lambda: {"standard": 1.0})
    moods: dict[Mood, Weight] = msgspec.field(default_factory=lambda: {"neutral": 1.0})
    speaking_share: Share = 1.0


class RosterSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    id: AgentIdPattern
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=256)] | None = None
    count: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1
    skills: dict[Name, Annotated[int, msgspec.Meta(ge=1, le=5)]] = msgspec.field(
        default_factory=dict
    )
    capacity: Capacity = msgspec.field(default_factory=dict)  # over the agents' capacity


class AgentsSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    think_seconds: Durations = 2.0
    wrap_up_seconds: Durations = 5.0
    capacity: Capacity = msgspec.field(default_factory=dict)  # over the server's defaults
    roster: Annotated[list[RosterSpec], msgspec.Meta(min_length=1)]


class ScenarioFile(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    description: str = ""
    seed: int = 1
    duration_seconds: Positive | None = None
    warm_up_seconds: Seconds = 0.0
    gateway: Literal["twilio", "generic", "asterisk", "freeswitch"] = "twilio"
    rules: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    arrivals: ArrivalsSpec
    handle_seconds: Durations
    patience_seconds: Durations | None = None
    # of the callers offered a callback on hold (Twilio), the share who take it; of those
    # called back, the share who answer each attempt (the others are busy or do not answer)
    callback_share: Share = 0.0
    callback_answer_share: Share = 0.85
    queues: Annotated[dict[Name, QueueSpec], msgspec.Meta(min_length=1)]
    callers: CallersSpec = msgspec.field(default_factory=CallersSpec)
    agents: AgentsSpec
    text: TextSpec | None = None  # text customers (chat, SMS, email) beside the callers
