"""Parked agents: over random worlds, an agent parked is given nothing by the reference
planner and may take none of the waiting tasks at any moment before its time, so leaving
it out of a pass decides exactly as planning with it; and the parking ends when its lines
change, a line it could serve appears, the agent or the rules change, or its time comes."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.domain.agents import Activity, Agent, Presence
from callcenter.domain.messages import Channel
from callcenter.domain.parking import PARK_SECONDS, ParkingLot, caught_up, park, still_parked
from callcenter.domain.routing import Ticket, plan_assignments, why_not
from callcenter.domain.routing_index import Head, Line, LineKind, lines_of
from callcenter.domain.routing_rules import QueueConfig, RoutingRules, Rule, Step
from tests.domain import test_routing_properties as routing_worlds
from tests.domain.test_routing_index import in_lines, varied

NOW = routing_worlds.NOW


def whole(lines: dict[Line, list[Ticket]], changes: int = 1) -> dict[Line, Head]:
    return {line: Head(tuple(members), True, changes) for line, members in lines.items()}


@settings(max_examples=400, deadline=None)
@given(routing_worlds.worlds(), st.data())
def test_a_parked_agent_is_given_nothing_until_its_time(
    world: routing_worlds.World, data: st.DataObject
) -> None:
    tickets = data.draw(varied(world)) if data.draw(st.booleans()) else world.tickets
    lines = in_lines(tickets)
    heads = whole(lines)
    longest = 3600.0  # longer than any wait drawn: the time found is the tasks' own
    parked = {
        agent.id: found
        for agent in world.agents
        if (found := park(agent, heads, lines, world.rules, NOW, longest=longest)) is not None
    }
    for agent in world.agents:
        if agent.id not in parked:
            continue
        until = parked[agent.id].until
        assert NOW < until <= NOW + timedelta(seconds=longest)
        fraction = data.draw(st.floats(0, 1, exclude_max=True))
        last = until - timedelta(microseconds=1)
        for at in (NOW, min(NOW + (until - NOW) * fraction, last), last):
            assert all(why_not(t, agent, world.rules, at) is not None for t in tickets)
    rest = [agent for agent in world.agents if agent.id not in parked]
    expected = plan_assignments(tickets, world.agents, world.rules, NOW)
    assert plan_assignments(tickets, rest, world.rules, NOW) == expected


@settings(max_examples=300, deadline=None)
@given(routing_worlds.worlds())
def test_an_agent_caught_up_with_one_task_joined_is_parked_as_a_read_of_its_lines_would_park_it(
    world: routing_worlds.World,
) -> None:
    """The last task of the world joins its lines after the agents were parked: looking at
    it alone (`caught_up`) parks an agent only when reading its lines whole would, until
    the same moment; and, when the task joined lines the agent had already seen, whenever
    reading them would."""
    if not world.tickets:
        return
    *before, last = world.tickets
    lines, grown = in_lines(before), in_lines(world.tickets)
    moved = set(lines_of(last))
    counts = {line: 2 if line in moved else 1 for line in grown}
    joined = dict.fromkeys(moved, last)
    longest = 3600.0
    for one in world.agents:
        parked = park(one, whole(lines), lines, world.rules, NOW, longest=longest)
        if parked is None:
            continue
        caught = caught_up(parked, one, counts, joined, grown, world.rules, NOW)
        heads = {line: Head(tuple(members), True, counts[line]) for line, members in grown.items()}
        read = park(one, heads, grown, world.rules, NOW, longest=longest)
        if caught is not None:
            assert read is not None and caught.until == read.until
        if read is None or moved <= set(lines):
            assert (caught is None) == (read is None)


RULES = RoutingRules(
    queues={
        "billing": QueueConfig(name="billing", skills=("billing",)),
        "refunds": QueueConfig(name="refunds", skills=("billing",)),
    },
    rules=(
        Rule(
            name="default",
            queue="billing",
            steps=(Step(after=0, require={"billing": 3}), Step(after=30)),
        ),
        Rule(name="easy", queue="billing"),
        Rule(name="held", queue="billing", prefer_seconds=20),
    ),
)


BILLING = Line(LineKind.QUEUE, Channel.VOICE, "billing")


def agent(level: int, **changes: object) -> Agent:
    made = Agent(
        id="a1",
        name="a1",
        skills={"billing": level},
        presence=Presence.AVAILABLE,
        activity=Activity.IDLE,
        activity_since=NOW,
        presence_since=NOW,
        idle_since=NOW,
        version=4,
    )
    return msgspec.structs.replace(made, **changes)


def ticket(
    call_id: str, waited: float, rule: str = "default", queue: str = "billing", **changes: object
) -> Ticket:
    made = Ticket(
        call_id=call_id,
        queue=queue,
        rule=rule,
        priority=0,
        queued_at=NOW - timedelta(seconds=waited),
    )
    return msgspec.structs.replace(made, **changes)


def test_an_agent_short_of_a_level_is_parked_until_the_step_widens() -> None:
    lines = in_lines([ticket("c1", waited=25), ticket("c2", waited=22)])
    parked = park(agent(1), whole(lines), lines, RULES, NOW)
    assert parked is not None
    assert parked.until == NOW + timedelta(seconds=5)  # c1 widens first
    counts = {line: head.changes for line, head in parked.heads.items()}
    assert set(counts) == {BILLING}  # its rule widens into no other queue: no rule line
    soon = NOW + timedelta(seconds=4)
    assert still_parked(parked, agent(1), counts, RULES, soon)
    assert not still_parked(parked, agent(1), counts, RULES, parked.until)
    bumped = {line: count + 1 for line, count in counts.items()}
    assert not still_parked(parked, agent(1), bumped, RULES, soon)
    assert not still_parked(parked, agent(1, version=5), counts, RULES, soon)
    reloaded = dataclasses.replace(RULES)
    assert not still_parked(parked, agent(1), counts, reloaded, soon)


def test_an_agent_kept_from_a_callers_last_agents_call_is_parked_until_the_hold_ends() -> None:
    held = msgspec.structs.replace(ticket("c1", waited=15, rule="held"), prefer_agent="a9")
    lines = in_lines([held])
    parked = park(agent(3), whole(lines), lines, RULES, NOW)
    assert parked is not None
    assert parked.until == NOW + timedelta(seconds=5)


def test_parking_ends_after_park_seconds_at_the_latest() -> None:
    lines = in_lines([ticket("c1", waited=0)])
    parked = park(agent(1), whole(lines), lines, RULES, NOW)
    assert parked is not None
    assert parked.until == NOW + timedelta(seconds=PARK_SECONDS)


def test_an_agent_who_may_take_a_task_is_not_parked() -> None:
    lines = in_lines([ticket("c1", waited=10)])
    assert park(agent(3), whole(lines), lines, RULES, NOW) is None
    backing_off = agent(3, blocked_until=NOW + timedelta(seconds=5))
    parked = park(backing_off, whole(lines), lines, RULES, NOW)
    assert parked is not None
    assert parked.until == NOW + timedelta(seconds=5)


def test_nobody_is_parked_on_a_line_not_read_to_its_end() -> None:
    lines = in_lines([ticket("c1", waited=10)])
    heads = {line: Head(tuple(members), False, 1) for line, members in lines.items()}
    assert park(agent(1), heads, lines, RULES, NOW) is None
    _, rule_line = lines_of(ticket("c1", 0))
    assert park(agent(1), {rule_line: whole(lines)[rule_line]}, lines, RULES, NOW) is None


def test_a_second_look_parks_again_unless_a_new_task_is_the_agents() -> None:
    lines = in_lines([ticket("c1", waited=10)])
    prior = park(agent(1), whole(lines), lines, RULES, NOW)
    assert prior is not None
    later = NOW + timedelta(seconds=1)
    grown = in_lines([ticket("c1", waited=10), ticket("c2", waited=0)])
    again = park(agent(1), whole(grown, 2), grown, RULES, later, prior)
    assert again is not None
    assert again.until == prior.until
    assert set(again.checked) == {"c1", "c2"}
    easy = in_lines([ticket("c1", waited=10), ticket("c3", waited=0, rule="easy")])
    assert park(agent(1), whole(easy, 2), easy, RULES, later, prior) is None


def test_the_lot_leaves_out_parked_agents_and_looks_again_when_their_lines_change() -> None:
    lot = ParkingLot()
    tickets = [ticket("c1", waited=10)]
    lines = in_lines(tickets)
    assert lot.sort_out([agent(1)], list(lines), {}, RULES, NOW) == [agent(1)]
    lot.park_idle([agent(1)], whole(lines), RULES, NOW)
    assert len(lot) == 1
    counted = lot.counted()
    assert counted == [BILLING]
    same = dict.fromkeys(counted, 1)
    assert lot.sort_out([agent(1)], list(lines), same, RULES, NOW) == []
    changed = dict.fromkeys(counted, 2)
    assert lot.sort_out([agent(1)], list(lines), changed, RULES, NOW) == [agent(1)]
    assert lot.suspects([agent(1)], RULES, NOW) == [agent(1)]
    grown = in_lines([*tickets, ticket("c2", waited=0)])
    assert lot.recheck([agent(1)], whole(grown, 2), RULES, NOW) == []
    assert len(lot) == 1


def test_a_line_the_agent_could_serve_appearing_ends_its_parking() -> None:
    lot = ParkingLot()
    lines = in_lines([ticket("c1", waited=10)])
    lot.sort_out([agent(1)], list(lines), {}, RULES, NOW)
    lot.park_idle([agent(1)], whole(lines), RULES, NOW)
    counts = dict.fromkeys(lot.counted(), 1)
    unknown = Line(LineKind.QUEUE, Channel.VOICE, "not-configured")  # anyone serves it
    found = [*lines, unknown]
    assert lot.sort_out([agent(1)], found, counts, RULES, NOW) == [agent(1)]


def test_an_agent_no_longer_ready_is_forgotten() -> None:
    lot = ParkingLot()
    lines = in_lines([ticket("c1", waited=10)])
    lot.sort_out([agent(1)], list(lines), {}, RULES, NOW)
    lot.park_idle([agent(1)], whole(lines), RULES, NOW)
    assert lot.sort_out([], list(lines), {}, RULES, NOW) == []
    assert len(lot) == 0


def test_a_second_look_reads_again_only_the_lines_whose_counts_moved() -> None:
    lot = ParkingLot()
    refunds = Line(LineKind.QUEUE, Channel.VOICE, "refunds")
    tickets = [ticket("c1", waited=10), ticket("c2", waited=10, queue="refunds")]
    lines = in_lines(tickets)
    lot.sort_out([agent(1)], list(lines), {}, RULES, NOW)
    lot.park_idle([agent(1)], whole(lines), RULES, NOW)
    assert set(lot.counted()) == {BILLING, refunds}
    moved = {BILLING: 1, refunds: 2}
    assert lot.sort_out([agent(1)], list(lines), moved, RULES, NOW) == [agent(1)]
    suspects = lot.suspects([agent(1)], RULES, NOW)
    assert lot.to_look_at(suspects, list(lines), RULES) == [refunds]
    grown = in_lines([*tickets, ticket("c3", waited=0, queue="refunds")])
    fresh = {refunds: Head(tuple(grown[refunds]), True, 2)}
    assert lot.recheck([agent(1)], fresh, RULES, NOW) == []  # parked again
    easy = in_lines([*tickets, ticket("c4", waited=0, rule="easy", queue="refunds")])
    assert lot.sort_out([agent(1)], list(lines), {BILLING: 1, refunds: 3}, RULES, NOW)
    fresh = {refunds: Head(tuple(easy[refunds]), True, 3)}
    assert lot.recheck([agent(1)], fresh, RULES, NOW) == [agent(1)]  # c4 is its to take


def test_tasks_alike_for_the_agent_share_one_look_and_no_others_do() -> None:
    """Parking looks once per queue, rule, channel and step at tasks that name no agent and
    are not held back. In each case below, a task the agent may not take comes first in its
    line, and one it may take follows: the agent must not be parked."""
    first = {"priority": 5}  # ahead in the line
    cases = [
        # the same queue and rule at another step (a level 1 agent, level 3 at step 0)
        (agent(1), [ticket("c1", waited=5), ticket("c2", waited=31)]),
        # the same step, but declined by the agent
        (agent(3), [ticket("c1", waited=5, declined_by=("a1",)), ticket("c2", waited=5)]),
        # the same step, but a callback held back
        (
            agent(3),
            [
                ticket("c1", waited=5, not_before=NOW + timedelta(seconds=60)),
                ticket("c2", waited=5),
            ],
        ),
        # the same step, but held for the caller's last agent
        (
            agent(3),
            [
                ticket("c1", waited=5, rule="held", prefer_agent="a9"),
                ticket("c2", waited=5, rule="held"),
            ],
        ),
        # the same step on another channel (no room for chat)
        (
            agent(3, capacity={"chat": 0}),
            [ticket("c1", waited=5, channel=Channel.CHAT), ticket("c2", waited=5)],
        ),
    ]
    for who, (ahead, behind) in cases:
        tasks = [msgspec.structs.replace(ahead, **first), behind]
        assert why_not(tasks[0], who, RULES, NOW) is not None
        assert why_not(tasks[1], who, RULES, NOW) is None
        lines = in_lines(tasks)
        assert park(who, whole(lines), lines, RULES, NOW) is None


def test_a_parked_agent_looks_at_the_one_task_that_joined_without_reading_its_line() -> None:
    lot = ParkingLot()
    lines = in_lines([ticket("c1", waited=25)])  # its step widens in 5 s
    lot.sort_out([agent(1)], list(lines), {}, RULES, NOW)
    lot.park_idle([agent(1)], whole(lines), RULES, NOW)
    # c2 has waited 28 s already (a task changed in the line): its step widens in 2 s
    c2 = ticket("c2", waited=28)
    assert lot.sort_out([agent(1)], [*lines], {BILLING: 2}, RULES, NOW, joined={BILLING: c2}) == []
    assert lot.suspects([agent(1)], RULES, NOW) == []  # nothing to read for it
    c3 = ticket("c3", waited=0)
    later = NOW + timedelta(seconds=1)
    assert (
        lot.sort_out([agent(1)], [*lines], {BILLING: 3}, RULES, later, joined={BILLING: c3}) == []
    )
    # parked until c2's step widens, not c1's
    widened = NOW + timedelta(seconds=2)
    assert lot.sort_out([agent(1)], [*lines], {BILLING: 3}, RULES, widened) == [agent(1)]


def test_a_task_joined_that_the_agent_may_take_or_more_than_one_ends_the_parking() -> None:
    lines = in_lines([ticket("c1", waited=0)])
    easy = ticket("c2", waited=0, rule="easy")
    hard = ticket("c3", waited=0)
    for counts, joined in (
        ({BILLING: 2}, {BILLING: easy}),  # its to take
        ({BILLING: 3}, {BILLING: hard}),  # two joined: the task kept is only the last
        ({BILLING: 2}, {}),  # no task kept with the count
    ):
        lot = ParkingLot()
        lot.sort_out([agent(1)], list(lines), {}, RULES, NOW)
        lot.park_idle([agent(1)], whole(lines), RULES, NOW)
        assert lot.sort_out([agent(1)], list(lines), counts, RULES, NOW, joined=joined) == [
            agent(1)
        ]
        assert lot.suspects([agent(1)], RULES, NOW) == [agent(1)]  # its line is read
