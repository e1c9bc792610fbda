"""The text section of a scenario file (customers who write by chat, SMS or email) and the
agents' capacity per channel, checked as the rest of the file is (`file:line: message`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from callcenter.simulate.distributions import Distribution
from callcenter.simulate.rules_summary import RulesSummary
from callcenter.simulate.scenario import (
    DEFAULT_CAPACITY,
    AgentSpec,
    Poisson,
    QueueTraffic,
    TextChannel,
    TextMix,
    Trace,
)
from callcenter.simulate.scenario_durations import distribution
from callcenter.simulate.scenario_file import (
    Capacity,
    Count,
    CountRange,
    TextChannelSpec,
    TextSpec,
)
from callcenter.simulate.scenario_problems import Located


def capacity(agents: Capacity, own: Capacity) -> dict[str, int]:
    """An agent's capacity: its own entry over the agents' over the server's defaults."""
    merged = dict(DEFAULT_CAPACITY)
    merged.update({str(channel): most for channel, most in (*agents.items(), *own.items())})
    return merged


def convert_channels(value: dict[Any, Any], doc: Located) -> None:
    """Each text channel on its own first, so that a bad value inside one keeps its line
    (msgspec names it `$.text.channels[...]`)."""
    text = value.get("text")
    channels = text.get("channels") if isinstance(text, dict) else None
    if isinstance(channels, dict):
        for name, channel in channels.items():
            doc.convert(channel, TextChannelSpec, ("text", "channels", str(name)))


@dataclass(frozen=True, slots=True)
class _Context:
    """What every channel of the section is checked against, and its defaults."""

    doc: Located
    known: set[str]  # queue names: the scenario's and its rules'
    queue: str
    handle: Distribution
    patience: Distribution | None
    roster: tuple[AgentSpec, ...]
    rules: RulesSummary | None
    poisson: bool


def text_mix(
    text: TextSpec | None,
    doc: Located,
    *,
    queues: dict[str, QueueTraffic],
    roster: tuple[AgentSpec, ...],
    rules: RulesSummary | None,
    arrivals: Poisson | Trace | None,
) -> TextMix | None:
    """The scenario's text customers (None: it has none); problems go to `doc`."""
    if text is None:
        return None
    known = set(queues) | (set(rules.queues) if rules is not None else set())
    if text.queue is not None and text.queue not in known:
        doc.problem(("text", "queue"), _unknown_queue(text.queue))
    context = _Context(
        doc=doc,
        known=known,
        queue=text.queue or next(iter(queues)),
        handle=distribution(text.handle_seconds, doc, "text", "handle_seconds"),
        patience=(
            distribution(text.patience_seconds, doc, "text", "patience_seconds")
            if text.patience_seconds is not None
            else None
        ),
        roster=roster,
        rules=rules,
        poisson=isinstance(arrivals, Poisson),
    )
    mix = TextMix(
        channels={name: _channel(name, spec, context) for name, spec in text.channels.items()},
        messages=_count(text.messages, doc, "text", "messages", least=1),
        think=distribution(text.think_seconds, doc, "text", "think_seconds"),
        replies=_count(text.replies, doc, "text", "replies", least=0),
        reply=distribution(text.reply_seconds, doc, "text", "reply_seconds"),
        moods={str(mood): weight for mood, weight in text.moods.items()},
    )
    _check_mix(mix, doc)
    return mix


def _unknown_queue(name: str) -> str:
    return f"queue {name!r} is neither in the scenario's queues nor in its rules"


def _channel(name: str, spec: TextChannelSpec, context: _Context) -> TextChannel:
    at = ("text", "channels", name)
    share, per_second = _arrival(name, spec, context)
    if spec.queue is not None and spec.queue not in context.known:
        context.doc.problem((*at, "queue"), _unknown_queue(spec.queue))
    channel = TextChannel(
        channel=name,
        queue=spec.queue or context.queue,
        share=share,
        per_second=per_second,
        handle=(
            distribution(spec.handle_seconds, context.doc, *at, "handle_seconds")
            if spec.handle_seconds is not None
            else context.handle
        ),
        patience=_patience(spec, context, at),
    )
    _check_staffing(context, at, channel)
    return channel


def _arrival(name: str, spec: TextChannelSpec, context: _Context) -> tuple[float, float]:
    """The channel's share of the scenario's arrivals, or its own rate (per second)."""
    at = ("text", "channels", name)
    rates = [
        rate
        for rate in (
            spec.per_second,
            spec.per_minute and spec.per_minute / 60,
            spec.per_hour and spec.per_hour / 3600,
        )
        if rate is not None
    ]
    if len(rates) + (spec.share is not None) != 1:
        context.doc.problem(
            at, f"{name} needs exactly one of share, per_second, per_minute, per_hour"
        )
        return 0.0, 0.0
    if spec.share is None:
        return 0.0, float(rates[0])
    if spec.share > 0 and not context.poisson:
        context.doc.problem(
            (*at, "share"),
            f"a share splits Poisson arrivals: with a trace, give {name} a rate of its own "
            "(per_minute: N)",
        )
    return spec.share, 0.0


def _patience(spec: TextChannelSpec, context: _Context, at: tuple[str, ...]) -> Distribution | None:
    if spec.patience_seconds is None:
        return None
    if isinstance(spec.patience_seconds, msgspec.UnsetType):
        return context.patience
    return distribution(spec.patience_seconds, context.doc, *at, "patience_seconds")


def _count(spec: Count, doc: Located, *at: str, least: int) -> tuple[int, int]:
    low, high = (spec.low, spec.high) if isinstance(spec, CountRange) else (spec, spec)
    if low < least:
        doc.problem(at, f"{at[-1]} needs at least {least}")
    if low > high:
        doc.problem(at, f"{at[-1]} needs low <= high")
    return max(low, least), max(high, low, least)


def _check_mix(mix: TextMix, doc: Located) -> None:
    if mix.share > 1:
        doc.problem(
            ("text", "channels"),
            f"the text shares add up to {mix.share:g}: more than every arrival",
        )
    if not any(mix.moods.values()):
        doc.problem(("text", "moods"), "every mood has weight 0")


def _check_staffing(context: _Context, at: tuple[str, ...], channel: TextChannel) -> None:
    rules = context.rules
    ruled = rules.queue(channel.queue) if rules is not None else None
    skills = ruled.skills if ruled is not None else ()
    if not any(
        agent.capacity.get(channel.channel, 0) > 0 and all(s in agent.skills for s in skills)
        for agent in context.roster
    ):
        needs = f" and every skill of queue {channel.queue!r} ({', '.join(skills)})"
        context.doc.problem(
            at,
            f"no agent in the roster has {channel.channel} capacity{needs if skills else ''}: "
            "its customers would never be answered",
        )
