"""The agent record: presence (set by the agent) and activity (set by the system)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import msgspec

from callcenter.errors import IllegalTransition

# An agent id: what tokens (agent:<id>), events, paths and the PBX channel variable accept.
AGENT_ID_PATTERN = r"[A-Za-z0-9_.@-]{1,64}"

Proficiency = Annotated[int, msgspec.Meta(ge=1, le=5)]
SkillName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+(?!\n)$")
]


class Presence(StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    AWAY = "away"
    BREAK = "break"


class Activity(StrEnum):
    IDLE = "idle"
    RESERVED = "reserved"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"


ALLOWED_ACTIVITY: dict[Activity, frozenset[Activity]] = {
    Activity.IDLE: frozenset({Activity.RESERVED, Activity.ON_CALL}),
    Activity.RESERVED: frozenset({Activity.IDLE, Activity.ON_CALL}),
    Activity.ON_CALL: frozenset({Activity.WRAP_UP, Activity.IDLE}),
    Activity.WRAP_UP: frozenset({Activity.IDLE}),
}


class Agent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One agent. Voice capacity is 1: `call_id` is the call (or callback) it holds, if
    any, and `activity` its voice state. Text tasks (chat, SMS, email) are held several at
    a time: `tasks` maps each one offered or worked to its channel; `capacity` is the
    agent's own limit per channel (channels it leaves out get the defaults)."""

    id: str
    name: str
    skills: dict[str, int]
    presence: Presence = Presence.OFFLINE
    activity: Activity = Activity.IDLE
    activity_since: datetime
    presence_since: datetime
    idle_since: datetime
    call_id: str | None = None
    day: str = ""
    calls_today: int = 0
    talk_seconds_today: float = 0.0
    missed_offers: int = 0
    last_offered_at: datetime | None = None
    blocked_until: datetime | None = None
    capacity: dict[str, int] = msgspec.field(default_factory=dict)
    tasks: dict[str, str] = msgspec.field(default_factory=dict)
    version: int = 0

    @property
    def eligible(self) -> bool:
        """Available and idle on voice; skills are checked by routing."""
        return self.presence is Presence.AVAILABLE and self.activity is Activity.IDLE


def new_agent(agent_id: str, name: str, skills: dict[str, int], now: datetime) -> Agent:
    """A freshly registered agent: offline and idle."""
    return Agent(
        id=agent_id,
        name=name,
        skills=dict(skills),
        activity_since=now,
        presence_since=now,
        idle_since=now,
        day=now.date().isoformat(),
    )


def update_profile(
    agent: Agent, name: str, skills: dict[str, int], capacity: dict[str, int] | None = None
) -> Agent:
    """New name and skills; `capacity` replaces the agent's own limits when given."""
    own = agent.capacity if capacity is None else dict(capacity)
    return msgspec.structs.replace(agent, name=name, skills=dict(skills), capacity=own)


def set_presence(agent: Agent, presence: Presence, now: datetime) -> Agent:
    """Presence is the agent's own choice and any value may follow any other.

    Going available resets the missed-offer count and back-off."""
    if presence is agent.presence:
        return agent
    if presence is Presence.AVAILABLE:
        # back on purpose: forget missed offers; an idle agent's idle time starts now
        idle_since = now if agent.activity is Activity.IDLE else agent.idle_since
        return msgspec.structs.replace(
            agent,
            presence=presence,
            presence_since=now,
            missed_offers=0,
            blocked_until=None,
            idle_since=idle_since,
        )
    return msgspec.structs.replace(agent, presence=presence, presence_since=now)


def _roll_day(agent: Agent, now: datetime) -> Agent:
    today = now.date().isoformat()
    if agent.day == today:
        return agent
    return msgspec.structs.replace(agent, day=today, calls_today=0, talk_seconds_today=0.0)


def set_activity(
    agent: Agent, activity: Activity, now: datetime, *, call_id: str | None = None
) -> Agent:
    """Move the agent's activity; raise IllegalTransition if the machine forbids it."""
    if activity not in ALLOWED_ACTIVITY[agent.activity]:
        raise IllegalTransition("agent", agent.id, str(agent.activity), str(activity))
    agent = _roll_day(agent, now)
    holds = call_id if activity is not Activity.IDLE else None
    idle_since = now if activity is Activity.IDLE else agent.idle_since
    return msgspec.structs.replace(
        agent, activity=activity, activity_since=now, call_id=holds, idle_since=idle_since
    )


def record_talk(agent: Agent, talk_seconds: float, now: datetime) -> Agent:
    """Count one handled call and its talk time for today."""
    agent = _roll_day(agent, now)
    return msgspec.structs.replace(
        agent,
        calls_today=agent.calls_today + 1,
        talk_seconds_today=agent.talk_seconds_today + max(0.0, talk_seconds),
    )
