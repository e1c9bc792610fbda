"""Offers and their answers, the timers routing starts, and how a rule is chosen and
applied to a call."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from callcenter.domain import reservations
from callcenter.domain.agents import Activity, Agent, Presence
from callcenter.domain.callers import CallerHistory, CallerProfile, CallerView
from callcenter.domain.calls import Call, CallState
from callcenter.domain.routing import Ticket
from callcenter.domain.routing_context import route, rule_context, select_rule, ticket_of
from callcenter.domain.routing_rules import (
    Prefer,
    QueueConfig,
    RoutingRules,
    Rule,
    Step,
)
from callcenter.domain.timers import Timer, TimerKind, queue_timers, wrap_up_timer
from callcenter.errors import Conflict
from callcenter.rules.cel_condition import CelCondition
from tests.domain.test_routing_context import NEUTRAL

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
QUEUED_AT = T0 - timedelta(seconds=45)
NOW = T0 + timedelta(seconds=3)
BILLING = QueueConfig(name="billing", skills=("billing",), reservation_seconds=15)


def queued_call(
    call_id: str = "c1",
    *,
    queue: str = "billing",
    rule: str | None = "vip",
    priority: int = 0,
    prefer_agent: str | None = None,
    declined_by: tuple[str, ...] = (),
) -> Call:
    return Call(
        id=call_id,
        gateway_call_id=f"gw-{call_id}",
        state=CallState.QUEUED,
        queue=queue,
        created_at=QUEUED_AT - timedelta(seconds=5),
        updated_at=QUEUED_AT,
        last_event_at=QUEUED_AT,
        from_="+15551230000",
        to="+15559870000",
        priority=priority,
        queued_at=QUEUED_AT,
        rule=rule,
        prefer_agent=prefer_agent,
        declined_by=declined_by,
    )


def idle_agent(agent_id: str = "a1", *, missed_offers: int = 0) -> Agent:
    since = T0 - timedelta(minutes=10)
    return Agent(
        id=agent_id,
        name=agent_id.upper(),
        skills={"billing": 4},
        presence=Presence.AVAILABLE,
        activity=Activity.IDLE,
        activity_since=since,
        presence_since=since,
        idle_since=since,
        day="2026-01-05",
        calls_today=2,
        missed_offers=missed_offers,
    )


def offered(
    call: Call | None = None, agent: Agent | None = None, queue: QueueConfig = BILLING
) -> tuple[Call, Agent]:
    return reservations.offer(call or queued_call(), agent or idle_agent(), "r1", T0, queue)


# --- offer ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [15.0, 7.5])
def test_offer_reserves_the_agent_for_the_call(seconds: float) -> None:
    queue = QueueConfig(name="billing", reservation_seconds=seconds)
    call, agent = offered(queue=queue)
    assert call.state is CallState.OFFERED
    assert call.agent_id == "a1"
    assert call.reservation is not None
    assert call.reservation.id == "r1"
    assert call.reservation.agent_id == "a1"
    assert call.reservation.offered_at == T0
    assert call.reservation.expires_at == T0 + timedelta(seconds=seconds)
    assert (call.queued_at, call.updated_at) == (QUEUED_AT, T0)
    assert (agent.activity, agent.call_id, agent.activity_since) == (Activity.RESERVED, "c1", T0)
    assert agent.last_offered_at == T0
    assert agent.presence is Presence.AVAILABLE


@pytest.mark.parametrize("state", [CallState.OFFERED, CallState.WRAP_UP, CallState.ENDED])
def test_offer_needs_a_waiting_call(state: CallState) -> None:
    call = msgspec.structs.replace(queued_call(), state=state)
    with pytest.raises(Conflict):
        reservations.offer(call, idle_agent(), "r1", T0, BILLING)


def test_offer_needs_an_idle_agent() -> None:
    _, busy = offered(queued_call("c0"))
    with pytest.raises(Conflict):
        reservations.offer(queued_call(), busy, "r2", T0, BILLING)


# --- accept ---------------------------------------------------------------------------------


@pytest.mark.parametrize("missed_before", [0, 2])
def test_accept_connects_and_forgets_missed_offers(missed_before: int) -> None:
    blocked = msgspec.structs.replace(
        idle_agent(missed_offers=missed_before), blocked_until=T0 - timedelta(seconds=1)
    )
    call, agent = offered(agent=blocked)
    connected, on_call = reservations.accept(call, agent, "r1", NOW)
    assert connected.state is CallState.CONNECTED
    assert (connected.reservation, connected.agent_id) == (None, "a1")
    assert (connected.answered_at, connected.updated_at) == (NOW, NOW)
    assert (on_call.activity, on_call.call_id, on_call.activity_since) == (
        Activity.ON_CALL,
        "c1",
        NOW,
    )
    assert (on_call.missed_offers, on_call.blocked_until) == (0, None)


# --- decline: rejected or timed out ---------------------------------------------------------


@pytest.mark.parametrize(
    ("missed_before", "max_missed", "timed_out", "missed_after", "blocked_for", "presence"),
    [
        pytest.param(0, 3, False, 0, None, Presence.AVAILABLE, id="reject"),
        pytest.param(2, 3, False, 2, None, Presence.AVAILABLE, id="reject-keeps-count"),
        pytest.param(0, 3, True, 1, 5, Presence.AVAILABLE, id="first-miss"),
        pytest.param(1, 3, True, 2, 10, Presence.AVAILABLE, id="second-miss"),
        pytest.param(2, 3, True, 3, 15, Presence.AWAY, id="third-miss-away"),
        pytest.param(0, 1, True, 1, 5, Presence.AWAY, id="strict-queue-away"),
        pytest.param(5, 3, True, 6, 30, Presence.AWAY, id="beyond-limit"),
    ],
)
def test_decline_puts_agent_back_and_backs_off_on_timeout(
    missed_before: int,
    max_missed: int,
    timed_out: bool,
    missed_after: int,
    blocked_for: int | None,
    presence: Presence,
) -> None:
    queue = QueueConfig(name="billing", max_missed_offers=max_missed)
    call, agent = offered(agent=idle_agent(missed_offers=missed_before), queue=queue)
    _, agent_after = reservations.decline(call, agent, "r1", NOW, queue, timed_out=timed_out)
    assert (agent_after.activity, agent_after.call_id, agent_after.idle_since) == (
        Activity.IDLE,
        None,
        NOW,
    )
    assert agent_after.missed_offers == missed_after
    expected_block = None if blocked_for is None else NOW + timedelta(seconds=blocked_for)
    assert agent_after.blocked_until == expected_block
    assert agent_after.presence is presence
    assert agent_after.last_offered_at == T0


@pytest.mark.parametrize(
    ("timed_out", "declined_by"),
    [(False, ("a0", "a1")), (True, ("a0",))],
    ids=["reject", "timeout"],
)
def test_declined_call_waits_again_in_its_old_place(
    timed_out: bool, declined_by: tuple[str, ...]
) -> None:
    call, agent = offered(queued_call(declined_by=("a0",)))
    requeued, _ = reservations.decline(call, agent, "r1", NOW, BILLING, timed_out=timed_out)
    assert requeued.state is CallState.QUEUED
    assert requeued.queued_at == QUEUED_AT
    assert (requeued.reservation, requeued.agent_id) == (None, None)
    assert requeued.declined_by == declined_by
    assert requeued.updated_at == NOW
    assert ticket_of(requeued).queued_at == QUEUED_AT
    assert ticket_of(requeued).declined_by == declined_by


# --- stale and foreign answers --------------------------------------------------------------

Answer = Callable[[Call, Agent, str], tuple[Call, Agent]]
ANSWERS: dict[str, Answer] = {
    "accept": lambda c, a, r: reservations.accept(c, a, r, NOW),
    "reject": lambda c, a, r: reservations.decline(c, a, r, NOW, BILLING, timed_out=False),
    "timeout": lambda c, a, r: reservations.decline(c, a, r, NOW, BILLING, timed_out=True),
}


def _stale_id() -> tuple[Call, Agent, str]:
    call, agent = offered()
    return call, agent, "r0"


def _already_accepted() -> tuple[Call, Agent, str]:
    call, agent = reservations.accept(*offered(), "r1", NOW)
    return call, agent, "r1"


def _already_declined() -> tuple[Call, Agent, str]:
    call, agent = reservations.decline(*offered(), "r1", NOW, BILLING, timed_out=False)
    return call, agent, "r1"


def _reoffered() -> tuple[Call, Agent, str]:
    call, agent = reservations.decline(*offered(), "r1", NOW, BILLING, timed_out=True)
    call, agent = reservations.offer(call, agent, "r2", NOW, BILLING)
    return call, agent, "r1"


def _other_agent() -> tuple[Call, Agent, str]:
    call, _ = offered()
    return call, idle_agent("a2"), "r1"


def _agent_now_on_other_call() -> tuple[Call, Agent, str]:
    call, agent = offered()
    return call, msgspec.structs.replace(agent, call_id="c9"), "r1"


@pytest.mark.parametrize("answer", sorted(ANSWERS))
@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        pytest.param(_stale_id, "no longer pending", id="stale-id"),
        pytest.param(_already_accepted, "no longer pending", id="already-accepted"),
        pytest.param(_already_declined, "no longer pending", id="already-declined"),
        pytest.param(_reoffered, "no longer pending", id="reoffered"),
        pytest.param(_other_agent, "belongs to another agent", id="other-agent"),
        pytest.param(_agent_now_on_other_call, "belongs to another agent", id="agent-moved-on"),
    ],
)
def test_stale_or_foreign_answer_is_a_conflict(
    answer: str, scenario: Callable[[], tuple[Call, Agent, str]], message: str
) -> None:
    call, agent, reservation_id = scenario()
    with pytest.raises(Conflict, match=message):
        ANSWERS[answer](call, agent, reservation_id)


# --- timers ---------------------------------------------------------------------------------

VIP = Rule(
    name="vip",
    queue="billing",
    priority=10,
    prefer=Prefer.LAST_AGENT,
    prefer_seconds=20,
    steps=(
        Step(after=0, require={"billing": 4}),
        Step(after=30, require={"billing": 2}),
        Step(after=90),
    ),
)
TIMER_RULES = RoutingRules(
    queues={
        "billing": QueueConfig(
            name="billing", max_wait_seconds=600, wrap_up_seconds=12, overflow="general"
        ),
        "general": QueueConfig(name="general"),
    },
    rules=(VIP, Rule(name="default", queue="general")),
)


def at(seconds: float) -> datetime:
    return QUEUED_AT + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        pytest.param(
            queued_call(prefer_agent="a7"),
            [
                Timer(TimerKind.STEP, "c1", "1", at(30)),
                Timer(TimerKind.STEP, "c1", "2", at(90)),
                Timer(TimerKind.PREFER, "c1", "", at(20)),
                Timer(TimerKind.MAX_WAIT, "c1", "billing", at(600)),
            ],
            id="steps-prefer-max-wait",
        ),
        pytest.param(
            queued_call(),
            [
                Timer(TimerKind.STEP, "c1", "1", at(30)),
                Timer(TimerKind.STEP, "c1", "2", at(90)),
                Timer(TimerKind.MAX_WAIT, "c1", "billing", at(600)),
            ],
            id="no-preferred-agent",
        ),
        pytest.param(queued_call(queue="general", rule="default"), [], id="nothing-to-wait-for"),
        pytest.param(
            queued_call(rule="removed"),
            [Timer(TimerKind.MAX_WAIT, "c1", "billing", at(600))],
            id="unknown-rule",
        ),
        pytest.param(
            queued_call(queue="elsewhere", prefer_agent="a7"),
            [
                Timer(TimerKind.STEP, "c1", "1", at(30)),
                Timer(TimerKind.STEP, "c1", "2", at(90)),
                Timer(TimerKind.PREFER, "c1", "", at(20)),
            ],
            id="unknown-queue-has-no-max-wait",
        ),
        pytest.param(
            msgspec.structs.replace(queued_call(), state=CallState.OFFERED), [], id="not-queued"
        ),
        pytest.param(msgspec.structs.replace(queued_call(), queued_at=None), [], id="never-queued"),
    ],
)
def test_queue_timers(call: Call, expected: list[Timer]) -> None:
    assert queue_timers(call, TIMER_RULES) == expected


@pytest.mark.parametrize(("queue", "seconds"), [("billing", 12.0), ("general", 10.0), ("x", 10.0)])
def test_wrap_up_timer(queue: str, seconds: float) -> None:
    timer = wrap_up_timer("a1", queued_call(queue=queue), TIMER_RULES, NOW)
    assert timer == Timer(TimerKind.WRAP_UP, "a1", "c1", NOW + timedelta(seconds=seconds))


# --- choosing and applying a rule -----------------------------------------------------------


def caller(
    *, tier: str | None = None, last_agent: str | None = None, tags: tuple[str, ...] = ()
) -> CallerView:
    return CallerView(
        key="+15551230000",
        profile=CallerProfile(tier=tier, tags=list(tags)),
        history=CallerHistory(calls_total=3 if last_agent else 0, last_agent=last_agent),
        repeat_within_7d=False,
    )


def cel_rule(name: str, when: str | None, *, queue: str | None = None, priority: int = 0) -> Rule:
    condition = CelCondition(when) if when is not None else None
    return Rule(name=name, when=condition, queue=queue, priority=priority)


SELECTION = RoutingRules(
    queues={"billing": QueueConfig(name="billing"), "general": QueueConfig(name="general")},
    rules=(
        cel_rule("broken", 'call.attributes.ivr == "9"'),  # no such attribute: fails
        cel_rule("vip", 'caller.tier == "vip"', queue="billing", priority=10),
        cel_rule("tagged", '"angry" in caller.tags', queue="billing", priority=5),
        cel_rule("also-vip", 'caller.tier == "vip" || caller.tier == "gold"'),
        cel_rule("default", None),
    ),
)


@pytest.mark.parametrize(
    ("who", "rule"),
    [
        pytest.param(caller(tier="vip"), "vip", id="first-match-wins"),
        pytest.param(caller(tier="vip", tags=("angry",)), "vip", id="earlier-beats-later"),
        pytest.param(caller(tags=("angry",)), "tagged", id="second-match"),
        pytest.param(caller(tier="gold"), "also-vip", id="third-match"),
        pytest.param(caller(), "default", id="default"),
        pytest.param(None, "default", id="unknown-caller"),
    ],
)
def test_select_rule_first_match_wins_and_reports_failures(
    who: CallerView | None, rule: str
) -> None:
    context = rule_context(queued_call(rule=None), who, NOW)
    chosen, match = select_rule(SELECTION, context)
    assert (chosen.name, match.rule) == (rule, rule)
    assert match.errors == ["broken: no field 'ivr'"]


def test_a_condition_fails_only_for_calls_it_cannot_evaluate() -> None:
    call = msgspec.structs.replace(queued_call(rule=None), attributes={"ivr": "9"})
    chosen, match = select_rule(SELECTION, rule_context(call, caller(tier="vip"), NOW))
    assert (chosen.name, match.errors) == ("broken", [])


def test_select_rule_falls_back_to_the_last_rule_when_all_fail() -> None:
    rules = RoutingRules(
        queues={},
        rules=(
            cel_rule("a", "caller.nope == 1"),
            cel_rule("b", 'caller.tier == "vip"'),
        ),
    )
    chosen, match = select_rule(rules, rule_context(queued_call(), caller(), NOW))
    assert (chosen.name, match.rule) == ("b", "b")
    assert match.errors == ["a: no field 'nope'"]


@pytest.mark.parametrize(
    ("call_priority", "rule_priority", "expected"),
    [(0, 10, 10), (15, 10, 15), (-3, 0, 0), (7, 7, 7), (2, -5, 2)],
)
def test_route_raises_priority_but_never_lowers_it(
    call_priority: int, rule_priority: int, expected: int
) -> None:
    rule = Rule(name="r", queue="billing", priority=rule_priority)
    routed = route(queued_call(priority=call_priority, rule=None), rule, None)
    assert routed.priority == expected
    assert ticket_of(routed).priority == expected


@pytest.mark.parametrize(
    ("prefer", "who", "expected"),
    [
        pytest.param(Prefer.LAST_AGENT, caller(last_agent="a7"), "a7", id="last-agent"),
        pytest.param(None, caller(last_agent="a7"), None, id="rule-without-prefer"),
        pytest.param(Prefer.LAST_AGENT, caller(), None, id="no-last-agent"),
        pytest.param(Prefer.LAST_AGENT, None, None, id="unknown-caller"),
    ],
)
def test_route_prefers_the_last_agent_only_when_the_rule_asks(
    prefer: Prefer | None, who: CallerView | None, expected: str | None
) -> None:
    rule = Rule(name="r", queue="billing", prefer=prefer)
    stale = queued_call(prefer_agent="a0", rule=None)
    routed = route(stale, rule, who)
    assert routed.prefer_agent == expected
    assert ticket_of(routed).prefer_agent == expected


@pytest.mark.parametrize(("rule_queue", "expected"), [(None, "sales"), ("billing", "billing")])
def test_route_sets_queue_and_rule(rule_queue: str | None, expected: str) -> None:
    routed = route(queued_call(queue="sales", rule=None), Rule(name="r", queue=rule_queue), None)
    assert (routed.queue, routed.rule) == (expected, "r")
    ticket = ticket_of(routed)
    assert (ticket.queue, ticket.rule, ticket.call_id) == (expected, "r", "c1")


def test_ticket_of_a_call_never_queued_counts_from_creation() -> None:
    call = msgspec.structs.replace(queued_call(rule=None), queued_at=None)
    assert ticket_of(call) == Ticket(
        call_id="c1",
        queue="billing",
        rule="",
        priority=0,
        queued_at=call.created_at,
    )


def test_rule_context_for_an_unknown_caller_has_neutral_values() -> None:
    call = msgspec.structs.replace(queued_call(), queue_hint="billing", attributes={"ivr": "1"})
    context = rule_context(call, None, NOW)
    assert context["queue"] == "billing"
    assert context["now"] == NOW
    assert context["call"]["from"] == "+15551230000"
    assert context["call"]["attributes"] == {"ivr": "1"}
    assert context["caller"] == {"known": False, **NEUTRAL}
