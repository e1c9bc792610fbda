"""The estimated wait: each agent's remaining time, the wait by place in line (tables and
properties: never shorter further back, never longer with more agents), calls ahead in
routing's order, and the queue's waiting line counted in one pass."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from callcenter.domain.agents import Activity, Agent, Presence
from callcenter.domain.messages import Channel
from callcenter.domain.queue_members import serves
from callcenter.domain.queue_outlook import Traffic, outlook_of
from callcenter.domain.queue_traffic import QueueTraffic
from callcenter.domain.routing import Ticket
from callcenter.domain.routing_rules import QueueConfig
from callcenter.domain.wait_estimate import (
    UNKNOWN,
    HandleTimes,
    PlacesInLine,
    WaitingLine,
    available_members,
    calls_ahead,
    remaining_seconds,
    staffing,
    staffing_by_queue,
    wait_for_place,
    waiting_lines,
)

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
HANDLE = HandleTimes(handle_seconds=300.0, talk_seconds=240.0)  # 60 s of wrap-up
BILLING = QueueConfig(name="billing", skills=("billing",))


def agent(
    agent_id: str = "a1",
    *,
    presence: Presence = Presence.AVAILABLE,
    activity: Activity = Activity.IDLE,
    for_seconds: float = 0.0,
    skills: dict[str, int] | None = None,
    blocked_for: float | None = None,
) -> Agent:
    since = NOW - timedelta(seconds=for_seconds)
    return Agent(
        id=agent_id,
        name=agent_id,
        skills={"billing": 3} if skills is None else skills,
        presence=presence,
        activity=activity,
        activity_since=since,
        presence_since=since,
        idle_since=since,
        call_id=None if activity is Activity.IDLE else f"call-of-{agent_id}",
        blocked_until=NOW + timedelta(seconds=blocked_for) if blocked_for is not None else None,
    )


def ticket(
    call_id: str,
    waited: float,
    *,
    queue: str = "billing",
    priority: int = 0,
    callback: bool = False,
    held_for: float | None = None,
) -> Ticket:
    return Ticket(
        call_id=call_id,
        queue=queue,
        rule="default",
        priority=priority,
        queued_at=NOW - timedelta(seconds=waited),
        channel=Channel.CALLBACK if callback else Channel.VOICE,
        not_before=NOW + timedelta(seconds=held_for) if held_for is not None else None,
    )


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        (agent(), 0.0),  # idle: free now
        (agent(blocked_for=20.0), 20.0),  # idle, backing off after missed offers
        (agent(activity=Activity.RESERVED), 300.0),  # an offer rings: a whole call to come
        (agent(activity=Activity.ON_CALL, for_seconds=40.0), 200.0 + 60.0),
        (agent(activity=Activity.ON_CALL, for_seconds=600.0), 60.0 + 60.0),  # overdue: T/4
        (agent(activity=Activity.WRAP_UP, for_seconds=15.0), 45.0),
        (agent(activity=Activity.WRAP_UP, for_seconds=90.0), 0.0),
        (agent(presence=Presence.AWAY), None),  # not serving
        (agent(presence=Presence.BREAK, activity=Activity.ON_CALL), None),
        (agent(presence=Presence.OFFLINE), None),
    ],
)
def test_remaining_time_of_an_agent(who: Agent, expected: float | None) -> None:
    assert remaining_seconds(who, HANDLE, NOW) == expected


def test_without_a_handle_time_busy_agents_are_unknown_and_idle_ones_free() -> None:
    assert remaining_seconds(agent(activity=Activity.ON_CALL), None, NOW) == UNKNOWN
    assert remaining_seconds(agent(), None, NOW) == 0.0
    assert remaining_seconds(agent(blocked_for=7.0), None, NOW) == 7.0


@pytest.mark.parametrize(
    ("ahead", "remaining", "handle", "expected"),
    [
        (0, (0.0,), 300.0, 0.0),  # a free agent and nobody ahead: at once
        (0, (), 300.0, None),  # nobody staffed: unknown
        (0, (120.0, 200.0), 300.0, 120.0),  # the first agent to free up
        (1, (120.0, 200.0), 300.0, 200.0),
        (2, (120.0, 200.0), 300.0, 420.0),  # the first agent's next call
        (5, (0.0, 100.0, 200.0), 300.0, 500.0),  # round 1, third agent
        (1, (0.0, UNKNOWN), None, None),  # the busy one's time is unknown
        (0, (0.0, UNKNOWN), None, 0.0),  # ... but a free agent is free
        (2, (0.0, 0.0), None, None),  # a second round needs a handle time
    ],
)
def test_wait_by_place(
    ahead: int, remaining: tuple[float, ...], handle: float | None, expected: float | None
) -> None:
    assert wait_for_place(ahead, remaining, handle) == expected


def test_evenly_spread_agents_give_about_k_plus_one_handle_times_over_n() -> None:
    handle, agents = 300.0, 10
    remaining = [handle * (i + 1) / agents for i in range(agents)]
    for ahead in (0, 9, 25, 99):
        assert wait_for_place(ahead, remaining, handle) == pytest.approx(
            (ahead + 1) * handle / agents
        )
    with pytest.raises(ValueError):
        wait_for_place(-1, remaining, handle)


handle_times = st.floats(min_value=1.0, max_value=3600.0)
shares = st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=30)


@given(handle=handle_times, shares=shares, ahead=st.integers(0, 500))
# the last agent of a round against the next round's first: h + 35 h rounded above 36 h
@example(handle=910.2229204468067, shares=[0.0, 0.0, 0.0, 1.0], ahead=143)
def test_the_wait_never_shortens_further_back_in_line(
    handle: float, shares: list[float], ahead: int
) -> None:
    remaining = sorted(share * handle for share in shares)
    here = wait_for_place(ahead, remaining, handle)
    behind = wait_for_place(ahead + 1, remaining, handle)
    assert here is not None and behind is not None
    assert behind >= here


@given(handle=handle_times, shares=shares, extra=st.floats(0.0, 1.0), ahead=st.integers(0, 500))
def test_the_wait_never_lengthens_with_one_more_agent(
    handle: float, shares: list[float], extra: float, ahead: int
) -> None:
    remaining = sorted(share * handle for share in shares)
    more = sorted([*remaining, extra * handle])
    fewer_wait = wait_for_place(ahead, remaining, handle)
    more_wait = wait_for_place(ahead, more, handle)
    assert fewer_wait is not None and more_wait is not None
    assert more_wait <= fewer_wait + 1e-9 * handle


def test_staffing_counts_the_queue_s_available_agents() -> None:
    agents = [
        agent("idle"),
        agent("talking", activity=Activity.ON_CALL, for_seconds=40.0),
        agent("away", presence=Presence.AWAY),
        agent("sales", skills={"sales": 5}),
    ]
    serving = staffing(agents, BILLING, HANDLE, NOW)
    assert serving.remaining == (0.0, 260.0)
    assert (serving.staffed, serving.ready) == (2, 1)


QUEUES = {
    "billing": BILLING,
    "billing-es": QueueConfig(name="billing-es", skills=("billing", "spanish")),
    "spanish-billing": QueueConfig(name="spanish-billing", skills=("spanish", "billing")),
    "sales": QueueConfig(name="sales", skills=("sales",)),
    "general": QueueConfig(name="general"),
}
activities = st.sampled_from(Activity)
presences = st.sampled_from(Presence)
skill_sets = st.dictionaries(
    st.sampled_from(("billing", "spanish", "sales", "support")), st.integers(1, 5), max_size=3
)


@given(
    st.lists(st.tuples(presences, activities, st.floats(0, 900), skill_sets), max_size=12),
    st.booleans(),
)
def test_all_queues_at_once_is_each_queue_on_its_own(
    drawn: list[tuple[Presence, Activity, float, dict[str, int]]], known: bool
) -> None:
    agents = [
        agent(f"a{i}", presence=p, activity=a, for_seconds=t, skills=k)
        for i, (p, a, t, k) in enumerate(drawn)
    ]
    handles = {name: HANDLE if known and name != "sales" else None for name in QUEUES}
    members = available_members(agents, QUEUES)
    assert members == {
        name: [a for a in agents if a.presence is Presence.AVAILABLE and serves(a, queue)]
        for name, queue in QUEUES.items()
    }
    together = staffing_by_queue(members, handles, NOW)
    assert together == {
        name: staffing(agents, queue, handles[name], NOW) for name, queue in QUEUES.items()
    }


def test_calls_ahead_follow_routing_order_and_skip_held_callbacks() -> None:
    tickets = [
        ticket("old", 100.0),
        ticket("vip", 5.0, priority=10),
        ticket("me", 50.0),
        ticket("young", 10.0),
        ticket("low", 500.0, priority=-1),
        ticket("other-queue", 900.0, queue="sales"),
        ticket("scheduled", 600.0, callback=True, held_for=300.0),
        ticket("callback", 200.0, callback=True),
    ]
    me = tickets[2]
    assert calls_ahead(me, tickets, NOW) == 3  # old, vip, callback
    assert calls_ahead(tickets[1], tickets, NOW) == 0


drawn_tickets = st.lists(
    st.tuples(
        st.sampled_from(("billing", "sales")),
        st.integers(-1, 2),  # priority
        st.integers(0, 30),  # seconds waited (ties on purpose)
        st.sampled_from((Channel.VOICE, Channel.CALLBACK, Channel.CHAT)),
        st.sampled_from((None, -5.0, 30.0)),  # held back until: none, passed, to come
    ),
    max_size=20,
)


@given(
    drawn=drawn_tickets,
    asked=st.tuples(st.sampled_from(("billing", "sales")), st.integers(-1, 2), st.integers(0, 30)),
    which=st.integers(0, 25),
)
def test_places_in_line_count_as_calls_ahead(
    drawn: list[tuple[str, int, int, Channel, float | None]],
    asked: tuple[str, int, int],
    which: int,
) -> None:
    """The sorted index answers as the pass over every ticket, for a call read with the
    others, and for one whose queue, priority or place moved since the reading."""
    tickets = [
        msgspec.structs.replace(
            ticket(f"c{i}", waited, queue=queue, priority=priority, held_for=held),
            channel=channel,
        )
        for i, (queue, priority, waited, channel, held) in enumerate(drawn)
    ]
    places = PlacesInLine(tickets, NOW)
    for one in tickets:
        assert places.ahead(one) == calls_ahead(one, tickets, NOW)
    queue, priority, waited = asked
    moved = ticket(f"c{which}", waited, queue=queue, priority=priority)  # may be one read
    assert places.ahead(moved) == calls_ahead(moved, tickets, NOW)


def test_waiting_lines_in_one_pass() -> None:
    tickets = [
        ticket("a", 10.0),
        ticket("b", 20.0, callback=True),
        ticket("c", 90.0, callback=True, held_for=60.0),
        ticket("d", 5.0, priority=-2),
        ticket("e", 1.0, queue="sales"),
    ]
    lines = waiting_lines(tickets, NOW)
    assert lines["billing"] == WaitingLine(
        calls=2, callbacks=2, oldest_callback_at=NOW - timedelta(seconds=90), ahead_of_new_call=2
    )
    assert lines["sales"] == WaitingLine(calls=1, ahead_of_new_call=1)


def test_the_outlook_of_a_queue() -> None:
    agents = [
        agent("a1", activity=Activity.ON_CALL, for_seconds=40.0),
        agent("a2", activity=Activity.WRAP_UP, for_seconds=15.0),
    ]
    handled = QueueTraffic(handled=4, handle_seconds=1200.0, talk_seconds=960.0)
    recent = QueueTraffic(arrived=30, answered=20, answered_in_sl=15, abandoned=5)
    traffic = Traffic(recent=recent, recent_seconds=900.0, long=handled.plus(recent))
    line = WaitingLine(calls=3, ahead_of_new_call=3, callbacks=1, oldest_callback_at=NOW)
    serving = staffing(agents, BILLING, HandleTimes.of(traffic.long), NOW)
    view = outlook_of(BILLING, line, serving, traffic, NOW)
    # remaining 45 s (wrap-up) and 260 s (on a call); 3 ahead: the second agent's 2nd call
    assert view.estimated_wait_seconds == pytest.approx(260.0 + 300.0)
    assert view.arrivals_per_minute == pytest.approx(2.0)
    assert view.mean_handle_seconds == pytest.approx(300.0)
    assert view.service_level == pytest.approx(15 / 25)
    assert (view.agents_staffed, view.agents_ready) == (2, 0)
    # 2 calls a minute of 5 minutes: 10 erlangs
    assert view.agents_needed == 14 and view.staffing_gap == 12
    assert view.oldest_callback_wait_seconds == 0.0
    nobody = outlook_of(BILLING, line, staffing([], BILLING, None, NOW), traffic, NOW)
    assert nobody.estimated_wait_seconds is None and nobody.staffing_gap == 14
    quiet = Traffic(recent=QueueTraffic(), recent_seconds=900.0, long=QueueTraffic())
    idle = outlook_of(BILLING, WaitingLine(), staffing([agent()], BILLING, None, NOW), quiet, NOW)
    assert idle.estimated_wait_seconds == 0.0 and idle.agents_needed == 0
    assert idle.mean_handle_seconds is None and math.isclose(idle.arrivals_per_minute, 0.0)
