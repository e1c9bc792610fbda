"""How much work an agent can hold per channel, and the cross-channel rules.

Voice (and a callback, which rings the agent's phone) is one at a time and is the agent's
`activity`. Text tasks are held several at a time up to the agent's capacity for their
channel (the agent's own setting, else `DEFAULT_CAPACITY`), further capped by the queue's
`capacity`. Nothing interrupts a voice call: while the agent is on voice (offered, talking
or wrapping up), text offers wait unless the queue sets `text_during_voice`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Literal

import msgspec

from callcenter.domain.agents import Activity, Agent, Presence
from callcenter.domain.messages import TEXT_CHANNELS, Channel

DEFAULT_CAPACITY: Mapping[str, int] = {
    Channel.VOICE: 1,
    Channel.CHAT: 3,
    Channel.SMS: 3,
    Channel.EMAIL: 5,
}
MAX_CAPACITY = 50
# a capacity setting: {channel: most tasks held at once}; a callback counts as voice
CapacityChannel = Literal["voice", "chat", "sms", "email"]
CapacityLimit = Annotated[int, msgspec.Meta(ge=0, le=MAX_CAPACITY)]
CapacitySetting = dict[CapacityChannel, CapacityLimit]


def capacity_channel(channel: Channel) -> Channel:
    """The channel whose capacity a task of `channel` uses."""
    return Channel.VOICE if channel is Channel.CALLBACK else channel


def own_capacity(agent: Agent, channel: Channel) -> int:
    """The agent's limit for `channel`: its own setting, else the default."""
    name = capacity_channel(channel)
    found = agent.capacity.get(name)
    return found if found is not None else DEFAULT_CAPACITY.get(name, 0)


def limit(agent: Agent, channel: Channel, queue_caps: Mapping[str, int]) -> int:
    """The most tasks of `channel` the agent may hold when taking one from a queue with
    `queue_caps` (the queue's per-channel cap, if it has one)."""
    return capped(own_capacity(agent, channel), channel, queue_caps)


def capped(mine: int, channel: Channel, queue_caps: Mapping[str, int]) -> int:
    """An agent's own limit `mine` for `channel` under a queue's caps."""
    cap = queue_caps.get(capacity_channel(channel))
    return mine if cap is None else min(mine, cap)


def held(agent: Agent, channel: Channel) -> int:
    """How many tasks of `channel` (offered or being worked) the agent holds."""
    name = capacity_channel(channel)
    if name is Channel.VOICE:
        return 0 if agent.activity is Activity.IDLE else 1
    return sum(1 for held_channel in agent.tasks.values() if held_channel == name)


def usage(agent: Agent, channel: Channel, queue_caps: Mapping[str, int]) -> str:
    """`chat 2/3`: what the agent holds of a channel against its limit, for explanations."""
    return f"{capacity_channel(channel)} {held(agent, channel)}/{limit(agent, channel, queue_caps)}"


def no_room(
    agent: Agent, channel: Channel, queue_caps: Mapping[str, int], *, text_during_voice: bool
) -> str | None:
    """Why the agent cannot take one more task of `channel` (None: it can). Presence and
    back-off are checked by routing, not here."""
    if capacity_channel(channel) is Channel.VOICE:
        if limit(agent, channel, queue_caps) < 1:
            return "takes no voice"
        return None if agent.activity is Activity.IDLE else str(agent.activity)
    if agent.activity is not Activity.IDLE and not text_during_voice:
        return f"{agent.activity}: no {channel} during voice"
    most = limit(agent, channel, queue_caps)
    count = held(agent, channel)
    if count >= most:
        return f"{channel} capacity full ({count}/{most})"
    return None


def text_room(agent: Agent) -> bool:
    """Could the agent take one more text task of some channel (by its own limits)?"""
    return any(held(agent, channel) < own_capacity(agent, channel) for channel in TEXT_CHANNELS)


def ready(agent: Agent) -> bool:
    """In the ready index: available and idle on voice (with room for a call, or for a
    text task). The index is the dispatcher's candidate list; routing makes the exact check
    per task."""
    return agent.eligible and (own_capacity(agent, Channel.VOICE) > 0 or text_room(agent))


def ready_on_voice(agent: Agent) -> bool:
    """In the on-voice index: available, busy with a call, and with room for a text task:
    a candidate only for queues that allow text during voice."""
    return (
        agent.presence is Presence.AVAILABLE
        and agent.activity is not Activity.IDLE
        and text_room(agent)
    )


def freed_room(before: Agent, after: Agent) -> bool:
    """The agent holds fewer text tasks than before: someone waiting may fit now."""
    return len(after.tasks) < len(before.tasks)


def readied(before: Agent | None, after: Agent, member: Callable[[Agent], bool]) -> bool:
    """`after` is in the index `member` describes (`ready`, `ready_on_voice`) and owes a
    dispatch pass: it was not in it before, or it holds fewer text tasks than it did."""
    return member(after) and (before is None or not member(before) or freed_room(before, after))
