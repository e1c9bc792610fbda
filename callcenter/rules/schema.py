"""The schema of a routing rule file: what each section may hold, as msgspec structs that
check names, ranges and unknown fields while a file is converted."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from callcenter.domain.alerts import Severity
from callcenter.domain.capacity import CapacitySetting
from callcenter.domain.routing_rules import Prefer, Strategy

Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}(?!\n)$")]
Seconds = Annotated[float, msgspec.Meta(ge=0)]


class QueueSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    skills: list[Name] = msgspec.field(default_factory=list)
    strategy: Strategy = Strategy.LONGEST_IDLE
    service_level_seconds: Annotated[float, msgspec.Meta(gt=0)] = 20.0
    wrap_up_seconds: Seconds = 10.0
    reservation_seconds: Annotated[float, msgspec.Meta(gt=0)] = 15.0
    max_wait_seconds: Annotated[float, msgspec.Meta(gt=0)] | None = None
    overflow: Name | None = None
    max_missed_offers: Annotated[int, msgspec.Meta(ge=1)] = 3
    missed_offer_backoff_seconds: Seconds = 5.0
    service_level_target: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.8
    callback_offer_after_seconds: Seconds | None = None
    callback_max_attempts: Annotated[int, msgspec.Meta(ge=1, le=10)] = 3
    callback_retry_seconds: Annotated[float, msgspec.Meta(ge=0, le=86400)] = 300.0
    capacity: CapacitySetting = msgspec.field(default_factory=dict)
    text_during_voice: bool = False
    conversation_idle_seconds: Annotated[float, msgspec.Meta(gt=0, le=30 * 86400)] = 86400.0


class StepSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    after: Seconds
    require: dict[Name, Annotated[int, msgspec.Meta(ge=1, le=5)]] = msgspec.field(
        default_factory=dict
    )
    also_queues: list[Name] = msgspec.field(default_factory=list)


class RuleSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name
    queue: Name | None = None
    when: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    priority: Annotated[int, msgspec.Meta(ge=-1000, le=1000)] = 0
    prefer: Prefer | None = None
    prefer_seconds: Seconds = 20.0
    steps: list[StepSpec] = msgspec.field(default_factory=list)


class AlertActionsSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    alert: bool = True
    raise_priority: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 0
    tag_caller: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None


class AlertSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One alert rule; exactly one of `mood_below`, `phrases`, `silence_seconds` says
    what it watches."""

    name: Name
    mood_below: Annotated[float, msgspec.Meta(ge=-1, le=1)] | None = None
    utterances: Annotated[int, msgspec.Meta(ge=1, le=50)] = 2
    phrases: (
        Annotated[
            list[Annotated[str, msgspec.Meta(min_length=1, max_length=128)]],
            msgspec.Meta(min_length=1, max_length=200),
        ]
        | None
    ) = None
    silence_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] | None = None
    speaker: Literal["caller", "agent", "mixed", "any"] = "caller"
    severity: Severity = Severity.WARNING
    actions: AlertActionsSpec = msgspec.field(default_factory=AlertActionsSpec)


class RulesFile(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    skills: list[Name] = msgspec.field(default_factory=list)
    queues: dict[Name, QueueSpec] = msgspec.field(default_factory=dict)
    rules: list[RuleSpec] = msgspec.field(default_factory=list)
    alerts: list[AlertSpec] = msgspec.field(default_factory=list)
    # added to a task's priority when ranking, by channel (e.g. {email: -5})
    channel_priority: dict[
        Literal["voice", "callback", "chat", "sms", "email"],
        Annotated[int, msgspec.Meta(ge=-1000, le=1000)],
    ] = msgspec.field(default_factory=dict)
