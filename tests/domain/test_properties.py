"""Property tests: random event sequences driven through a pure in-memory store.

The loop applies each CallChange as the Redis commit does: replace the call and the changed
agents; a Conflict or NotFound is a rejection that stores nothing. Besides the seven event
types it drives the other writers of the same records, so offered, reserved and wrap-up
states are reached: the routing claim (`reservations.offer`, only for a queued call and an
idle agent, as dispatch claims), the agent's answer to an offer, and the agent finishing
wrap-up (`complete_wrap_up`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.domain import agents as agent_rules
from callcenter.domain import reservations
from callcenter.domain.agents import Activity, Agent, Presence
from callcenter.domain.call_lifecycle import apply_call_event, complete_wrap_up
from callcenter.domain.calls import ALLOWED_TRANSITIONS, Call, CallState
from callcenter.domain.events import (
    CallAnswered,
    CallCreated,
    CallDtmf,
    CallEnded,
    CallEvent,
    CallRinging,
    CallTransferred,
    EndReason,
    SurveyCompleted,
)
from callcenter.domain.routing_rules import QueueConfig
from callcenter.errors import Conflict, NotFound

BASE = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
CALL_IDS = ("c1", "c2", "c3")
AGENT_IDS = ("a1", "a2")
DEFAULT_QUEUE = "general"
QUEUE = QueueConfig(name=DEFAULT_QUEUE, max_missed_offers=2)


@dataclass(frozen=True, slots=True)
class Offer:
    """The routing claim of a queued call for an idle agent."""

    call_id: str
    agent_id: str


Answer = Literal["accept", "reject", "timeout"]
ANSWERS: tuple[Answer, ...] = ("accept", "reject", "timeout")


@dataclass(frozen=True, slots=True)
class Reply:
    """The reserved agent's answer to the call's pending offer."""

    call_id: str
    answer: Answer


@dataclass(frozen=True, slots=True)
class FinishWrapUp:
    agent_id: str


Op = CallEvent | Offer | Reply | FinishWrapUp


@dataclass(frozen=True, slots=True)
class Step:
    op: Op
    now: datetime


@dataclass(slots=True)
class World:
    calls: dict[str, Call] = field(default_factory=dict)
    agents: dict[str, Agent] = field(default_factory=dict)
    seen_events: set[str] = field(default_factory=set)
    transitions: list[tuple[CallState | None, CallState]] = field(default_factory=list)


def new_world() -> World:
    world = World()
    for agent_id in AGENT_IDS:
        agent = agent_rules.new_agent(agent_id, agent_id.upper(), {"billing": 3}, BASE)
        world.agents[agent_id] = agent_rules.set_presence(agent, Presence.AVAILABLE, BASE)
    return world


def _store(world: World, old: Call | None, new: Call | None, *agents: Agent) -> None:
    if new is not None:
        world.transitions.append((old.state if old else None, new.state))
        world.calls[new.id] = new
    world.agents.update({agent.id: agent for agent in agents})


def _apply_event(world: World, event: CallEvent, now: datetime, *, dedupe: bool) -> None:
    if dedupe and event.event_id in world.seen_events:
        return  # the commit's dedupe guard: a duplicate stores nothing
    call = world.calls.get(event.call_id)
    involved = {a for a in (event.agent_id, call.agent_id if call else None) if a}
    agents = {a: world.agents[a] for a in involved if a in world.agents}
    try:
        change = apply_call_event(call, agents, event, now, default_queue=DEFAULT_QUEUE)
    except (Conflict, NotFound):
        return
    assert change.call.id == event.call_id
    assert {agent.id for agent in change.agents} <= set(agents)
    _store(world, call, change.call, *change.agents)
    world.seen_events.add(event.event_id)


def _apply_offer(world: World, op: Offer, now: datetime) -> None:
    call, agent = world.calls.get(op.call_id), world.agents[op.agent_id]
    if call is None or call.state is not CallState.QUEUED or agent.activity is not Activity.IDLE:
        return
    offered, reserved = reservations.offer(call, agent, f"r-{now.timestamp()}", now, QUEUE)
    _store(world, call, offered, reserved)


def _apply_reply(world: World, op: Reply, now: datetime) -> None:
    call = world.calls.get(op.call_id)
    if call is None or call.reservation is None:
        return
    agent = world.agents[call.reservation.agent_id]
    try:
        if op.answer == "accept":
            new_call, new_agent = reservations.accept(call, agent, call.reservation.id, now)
        else:
            timed_out = op.answer == "timeout"
            new_call, new_agent = reservations.decline(
                call, agent, call.reservation.id, now, QUEUE, timed_out=timed_out
            )
    except Conflict:
        return
    _store(world, call, new_call, new_agent)


def _apply_finish(world: World, op: FinishWrapUp, now: datetime) -> None:
    agent = world.agents[op.agent_id]
    call = world.calls.get(agent.call_id) if agent.call_id else None
    try:
        idle, ended = complete_wrap_up(call, agent, now)
    except Conflict:
        return
    _store(world, call, ended, idle)


def apply_step(world: World, step: Step, *, dedupe: bool = False) -> None:
    op = step.op
    if isinstance(op, Offer):
        _apply_offer(world, op, step.now)
    elif isinstance(op, Reply):
        _apply_reply(world, op, step.now)
    elif isinstance(op, FinishWrapUp):
        _apply_finish(world, op, step.now)
    else:
        _apply_event(world, op, step.now, dedupe=dedupe)


def run(steps: Iterable[Step], *, dedupe: bool = False) -> World:
    world = new_world()
    for step in steps:
        apply_step(world, step, dedupe=dedupe)
    return world


# Strategies ---------------------------------------------------------------------------------

call_ids = st.sampled_from(CALL_IDS)
agent_ids = st.sampled_from(AGENT_IDS)
# A handful of instants, so equal and out-of-order timestamps are common.
times = st.none() | st.integers(0, 12).map(lambda k: BASE + timedelta(seconds=30 * k))
parties = st.sampled_from((None, "+1 555 123 0000", "0044 20 7946 0958", "Anonymous"))
queues = st.sampled_from((None, "billing", "sales"))
answers = st.sampled_from(ANSWERS)
noise: st.SearchStrategy[Op] = st.one_of(
    st.builds(CallCreated, event_id=st.just("-"), call_id=call_ids, from_=parties),
    st.builds(CallRinging, event_id=st.just("-"), call_id=call_ids, to=parties),
    st.builds(
        CallAnswered,
        event_id=st.just("-"),
        call_id=call_ids,
        agent_id=st.sampled_from((*AGENT_IDS, None, "ghost")),
    ),
    st.builds(CallEnded, event_id=st.just("-"), call_id=call_ids),
    st.builds(CallTransferred, event_id=st.just("-"), call_id=call_ids, queue=queues),
    st.builds(CallDtmf, event_id=st.just("-"), call_id=call_ids, digits=st.just("5")),
    st.builds(SurveyCompleted, event_id=st.just("-"), call_id=call_ids, nps=st.integers(0, 10)),
    st.builds(Offer, call_id=call_ids, agent_id=agent_ids),
    st.builds(Reply, call_id=call_ids, answer=answers),
    st.builds(FinishWrapUp, agent_id=agent_ids),
)


@st.composite
def call_script(draw: st.DrawFn, call_id: str) -> list[Op]:
    """One call's life in its natural order, each step kept or left out at random (uniformly
    random steps alone rarely take a call as far as wrap-up), each event stamped in order
    or left without occurred_at (the service then uses its clock)."""
    first, second = draw(agent_ids), draw(agent_ids)
    c = call_id
    template: list[Callable[[], Op]] = [
        lambda: CallCreated(event_id="-", call_id=c, from_=draw(parties), attributes={"x": 1}),
        lambda: CallRinging(event_id="-", call_id=c, to=draw(parties), attributes={"y": 2}),
        lambda: Offer(c, first),
        lambda: Reply(c, draw(answers)),
        lambda: CallAnswered(
            event_id="-", call_id=c, agent_id=draw(st.sampled_from((first, None)))
        ),
        lambda: CallDtmf(event_id="-", call_id=c, digits="1#"),
        lambda: CallTransferred(event_id="-", call_id=c, queue=draw(queues)),
        lambda: Offer(c, second),
        lambda: CallAnswered(event_id="-", call_id=c, agent_id=second),
        lambda: CallEnded(event_id="-", call_id=c, end_reason=draw(st.sampled_from(EndReason))),
        lambda: FinishWrapUp(first),
        lambda: FinishWrapUp(second),
        lambda: SurveyCompleted(event_id="-", call_id=c, csat=draw(st.integers(1, 5))),
    ]
    start = draw(st.integers(0, 6))
    script: list[Op] = []
    for index, make in enumerate(template):
        if not draw(st.booleans()):
            continue
        op = make()
        if isinstance(op, CallEvent) and draw(st.booleans()):
            op = msgspec.structs.replace(
                op, occurred_at=BASE + timedelta(seconds=30 * (start + index))
            )
        script.append(op)
    return script


def _numbered(index: int, op: Op) -> Step:
    if isinstance(op, CallEvent):
        op = msgspec.structs.replace(op, event_id=f"e{index}")
    return Step(op, BASE + timedelta(hours=1, seconds=index))


@st.composite
def sequences(draw: st.DrawFn) -> list[Step]:
    """A few calls' scripts interleaved, random steps thrown in, a few swaps, then copies
    of some steps (same event id, same clock) at random places."""
    scripts = [
        draw(call_script(call_id))
        for call_id in draw(st.lists(call_ids, min_size=1, max_size=3, unique=True))
    ]
    merged: list[Op] = []
    while any(scripts):
        pick = draw(st.sampled_from([i for i, script in enumerate(scripts) if script]))
        merged.append(scripts[pick].pop(0))
    for op in draw(st.lists(noise, max_size=5)):
        if isinstance(op, CallEvent):
            op = msgspec.structs.replace(op, occurred_at=draw(times))
        merged.insert(draw(st.integers(0, len(merged))), op)
    if merged:
        index = st.integers(0, len(merged) - 1)
        for i, j in draw(st.lists(st.tuples(index, index), max_size=3)):
            merged[i], merged[j] = merged[j], merged[i]
    steps = [_numbered(i, op) for i, op in enumerate(merged)]
    if steps:
        for i in draw(st.lists(st.integers(0, len(steps) - 1), max_size=5)):
            steps.insert(draw(st.integers(0, len(steps))), steps[i])
    return steps


def doubled(steps: list[Step]) -> list[Step]:
    return [step for step in steps for _ in range(2)]


# Invariants ---------------------------------------------------------------------------------


def check_states(world: World) -> None:
    for call in world.calls.values():
        assert isinstance(call.state, CallState)
    for before, after in world.transitions:
        assert isinstance(after, CallState)
        if before is None:
            assert after in ALLOWED_TRANSITIONS[CallState.CREATED]
        elif before is not after:
            assert after in ALLOWED_TRANSITIONS[before], (before, after)


def check_capacity(world: World) -> None:
    for agent in world.agents.values():
        assert (agent.call_id is None) == (agent.activity is Activity.IDLE), agent
        holding = [
            call.id
            for call in world.calls.values()
            if call.agent_id == agent.id and call.state in (CallState.OFFERED, CallState.CONNECTED)
        ]
        assert len(holding) <= 1, (agent.id, holding)
        if holding:
            assert agent.call_id == holding[0], (agent, holding)


def check_agent_links(world: World) -> None:
    """A reserved or talking agent holds a call that names it (or has ended). An agent in
    wrap-up may point at a call that went on without it (it transferred the call)."""
    for agent in world.agents.values():
        if agent.call_id is None:
            continue
        call = world.calls.get(agent.call_id)
        assert call is not None, agent
        if agent.activity is Activity.WRAP_UP:
            continue
        assert call.agent_id == agent.id or call.state is CallState.ENDED, (agent, call)


def _comparable(world: World, *, ignore_dtmf: bool) -> tuple[dict[str, Call], dict[str, Agent]]:
    calls = {}
    for call_id, call in world.calls.items():
        attributes = {k: v for k, v in call.attributes.items() if not (ignore_dtmf and k == "dtmf")}
        calls[call_id] = msgspec.structs.replace(call, updated_at=BASE, attributes=attributes)
    return calls, world.agents


# Properties ---------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(sequences())
def test_states_only_move_along_allowed_transitions(steps: list[Step]) -> None:
    world = new_world()
    for step in steps:
        apply_step(world, step)
        check_states(world)


@settings(max_examples=200, deadline=None)
@given(sequences())
def test_an_ended_call_never_leaves_ended(steps: list[Step]) -> None:
    world = new_world()
    ended: set[str] = set()
    for step in steps:
        apply_step(world, step)
        now_ended = {c.id for c in world.calls.values() if c.state is CallState.ENDED}
        assert ended <= now_ended
        ended = now_ended


@settings(max_examples=200, deadline=None)
@given(sequences())
def test_no_agent_ever_holds_two_calls(steps: list[Step]) -> None:
    world = new_world()
    for step in steps:
        apply_step(world, step)
        check_capacity(world)


@settings(max_examples=200, deadline=None)
@given(sequences())
def test_a_busy_agent_points_at_its_own_or_an_ended_call(steps: list[Step]) -> None:
    world = new_world()
    for step in steps:
        apply_step(world, step)
        check_agent_links(world)


@settings(max_examples=200, deadline=None)
@given(sequences())
def test_duplicate_deliveries_change_nothing_with_the_dedupe_guard(steps: list[Step]) -> None:
    once = _comparable(run(steps, dedupe=True), ignore_dtmf=False)
    assert _comparable(run(doubled(steps), dedupe=True), ignore_dtmf=False) == once


@settings(max_examples=200, deadline=None)
@given(sequences())
def test_events_are_idempotent_even_without_the_dedupe_guard(steps: list[Step]) -> None:
    # Only DTMF digits accumulate on a repeat; every other effect must be idempotent.
    once = _comparable(run(steps), ignore_dtmf=True)
    assert _comparable(run(doubled(steps)), ignore_dtmf=True) == once
