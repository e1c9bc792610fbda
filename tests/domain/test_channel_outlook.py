"""A queue's text channels: what its available agents hold against what they may hold,
from loads worked out once per agent, equal each agent's own `capacity.held` and
`capacity.limit` summed over the queue's members (as the outlook did per queue)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.domain import capacity
from callcenter.domain.agents import Agent, new_agent
from callcenter.domain.channel_outlook import TEXT_ORDER, channel_views, text_loads
from callcenter.domain.routing_rules import QueueConfig

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
TEXT = ("chat", "sms", "email")
limits = st.dictionaries(st.sampled_from(("voice", *TEXT)), st.integers(0, 4), max_size=4)
held = st.lists(st.sampled_from(TEXT), max_size=5)


def agent(index: int, own: dict[str, int], tasks: list[str]) -> Agent:
    return msgspec.structs.replace(
        new_agent(f"a{index}", f"A{index}", {"support": 3}, NOW),
        capacity=own,
        tasks={f"t{index}-{n}": channel for n, channel in enumerate(tasks)},
    )


@settings(max_examples=200, deadline=None)
@given(
    drawn=st.lists(st.tuples(limits, held), max_size=8),
    caps=st.dictionaries(st.sampled_from(TEXT), st.integers(0, 3), max_size=3),
    waiting=st.dictionaries(st.sampled_from(TEXT), st.integers(1, 3), max_size=3),
)
def test_each_channel_sums_its_members_own_held_and_limit(
    drawn: list[tuple[dict[str, int], list[str]]],
    caps: dict[str, int],
    waiting: dict[str, int],
) -> None:
    agents = [agent(i, own, tasks) for i, (own, tasks) in enumerate(drawn)]
    queue = QueueConfig(name="support", skills=("support",), capacity=caps)
    places = {
        ("support", channel): [NOW - timedelta(seconds=10 * n) for n in range(1, count + 1)]
        for channel, count in waiting.items()
    }
    loads = text_loads(agents)
    views = {v.channel: v for v in channel_views(queue, places, list(loads.values()), {}, NOW)}
    for channel in TEXT_ORDER:
        want_held = sum(capacity.held(a, channel) for a in agents)
        want_capacity = sum(capacity.limit(a, channel, queue.capacity) for a in agents)
        shown = views.get(str(channel))
        if shown is None:  # nothing to show: nothing waits and nobody may take one
            assert (waiting.get(str(channel)), want_capacity) == (None, 0)
            continue
        assert (shown.held, shown.capacity) == (want_held, want_capacity)
        assert shown.waiting == waiting.get(str(channel), 0)
        if shown.waiting:
            assert shown.oldest_wait_seconds == 10.0 * shown.waiting
