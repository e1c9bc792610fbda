"""Routing as tables: strategies, eligibility reasons, step widening, cross-queue matching
and the explanation every decision carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcenter.domain.agents import Activity, Agent, Presence
from callcenter.domain.routing import (
    TOP_CANDIDATES_SHOWN,
    Decision,
    Ticket,
    active_step,
    decide,
    next_step_at,
    plan_assignments,
    why_not,
)
from callcenter.domain.routing_rules import (
    Prefer,
    QueueConfig,
    RoutingRules,
    Rule,
    Step,
    Strategy,
)

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

VIP = Rule(
    name="vip",
    queue="billing",
    priority=10,
    prefer=Prefer.LAST_AGENT,
    prefer_seconds=20,
    steps=(
        Step(after=0, require={"billing": 4}),
        Step(after=30, require={"billing": 2}),
        Step(after=90, also_queues=("support",)),
    ),
)
PLAIN = Rule(name="plain", queue="billing")
SUPPORT = Rule(name="support", queue="support")
SPANISH = Rule(name="spanish", queue="billing", steps=(Step(after=0, require={"spanish": 3}),))
RULES = RoutingRules(
    queues={
        "billing": QueueConfig(name="billing", skills=("billing",)),
        "support": QueueConfig(name="support", skills=("support",)),
        "general": QueueConfig(name="general"),
    },
    rules=(VIP, SPANISH, SUPPORT, PLAIN),
)


def make_agent(
    agent_id: str,
    skills: dict[str, int] | None = None,
    *,
    idle: float = 60.0,
    presence: Presence = Presence.AVAILABLE,
    activity: Activity = Activity.IDLE,
    calls_today: int = 0,
    talk_seconds_today: float = 0.0,
    last_offered_at: datetime | None = None,
    blocked_until: datetime | None = None,
) -> Agent:
    """An agent idle for `idle` seconds at T0 (billing 3 unless told otherwise)."""
    since = T0 - timedelta(seconds=idle)
    return Agent(
        id=agent_id,
        name=agent_id.upper(),
        skills={"billing": 3} if skills is None else skills,
        presence=presence,
        activity=activity,
        activity_since=since,
        presence_since=since,
        idle_since=since,
        call_id=None if activity is Activity.IDLE else "other-call",
        calls_today=calls_today,
        talk_seconds_today=talk_seconds_today,
        last_offered_at=last_offered_at,
        blocked_until=blocked_until,
    )


def make_ticket(
    call_id: str = "c1",
    *,
    queue: str = "billing",
    rule: str = "plain",
    priority: int = 0,
    waited: float = 0.0,
    prefer_agent: str | None = None,
    declined_by: tuple[str, ...] = (),
) -> Ticket:
    """A ticket that has waited `waited` seconds at T0."""
    return Ticket(
        call_id=call_id,
        queue=queue,
        rule=rule,
        priority=priority,
        queued_at=T0 - timedelta(seconds=waited),
        prefer_agent=prefer_agent,
        declined_by=declined_by,
    )


def single_queue(strategy: Strategy, require: dict[str, int] | None = None) -> RoutingRules:
    """Queue `q` (agents with `billing`) with `strategy`, and one rule `r` for it."""
    return RoutingRules(
        queues={"q": QueueConfig(name="q", skills=("billing",), strategy=strategy)},
        rules=(Rule(name="r", queue="q", steps=(Step(after=0, require=require or {}),)),),
    )


def winner(rules: RoutingRules, agents: list[Agent], call_id: str = "c1") -> str:
    decision = decide(make_ticket(call_id, queue="q", rule="r"), agents, rules, T0)
    assert decision is not None
    return decision.agent_id


# --- strategies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "require", "agents", "expected"),
    [
        pytest.param(
            Strategy.LONGEST_IDLE,
            None,
            [make_agent("a", idle=10), make_agent("b", idle=300), make_agent("c", idle=60)],
            "b",
            id="longest_idle",
        ),
        pytest.param(
            Strategy.LONGEST_IDLE,
            None,
            [make_agent("b", idle=60), make_agent("a", idle=60)],
            "a",
            id="longest_idle-tie-by-id",
        ),
        pytest.param(
            Strategy.BEST_SKILL,
            {"billing": 2},
            [
                make_agent("a", {"billing": 4}, idle=900),
                make_agent("b", {"billing": 5}, idle=5),
                make_agent("c", {"billing": 3}, idle=2000),
            ],
            "b",
            id="best_skill-proficiency-first",
        ),
        pytest.param(
            Strategy.BEST_SKILL,
            {"billing": 2},
            [
                make_agent("a", {"billing": 4}, idle=30),
                make_agent("b", {"billing": 4}, idle=400),
                make_agent("c", {"billing": 3}, idle=5000),
            ],
            "b",
            id="best_skill-idle-breaks-ties",
        ),
        pytest.param(
            Strategy.BEST_SKILL,
            {"billing": 1, "spanish": 1},
            [
                make_agent("a", {"billing": 5, "spanish": 1}, idle=30),
                make_agent("b", {"billing": 4, "spanish": 4}, idle=30),
            ],
            "b",
            id="best_skill-averages-required-skills",
        ),
        pytest.param(
            Strategy.FEWEST_CALLS,
            None,
            [
                make_agent("a", calls_today=5, idle=999),
                make_agent("b", calls_today=2),
                make_agent("c", calls_today=3),
            ],
            "b",
            id="fewest_calls",
        ),
        pytest.param(
            Strategy.FEWEST_CALLS,
            None,
            [make_agent("b", calls_today=2, idle=999), make_agent("a", calls_today=2)],
            "a",
            id="fewest_calls-tie-by-id",
        ),
        pytest.param(
            Strategy.LEAST_TALK_TIME,
            None,
            [
                make_agent("a", talk_seconds_today=600.0, calls_today=1),
                make_agent("b", talk_seconds_today=1200.0, calls_today=0),
                make_agent("c", talk_seconds_today=300.0, calls_today=9),
            ],
            "c",
            id="least_talk_time",
        ),
        pytest.param(
            Strategy.ROUND_ROBIN,
            None,
            [
                make_agent("a", last_offered_at=T0 - timedelta(seconds=10), idle=999),
                make_agent("b", last_offered_at=T0 - timedelta(seconds=100)),
                make_agent("c", last_offered_at=T0 - timedelta(seconds=50)),
            ],
            "b",
            id="round_robin-least-recently-offered",
        ),
        pytest.param(
            Strategy.ROUND_ROBIN,
            None,
            [
                make_agent("a", last_offered_at=T0 - timedelta(days=30)),
                make_agent("b", last_offered_at=None),
            ],
            "b",
            id="round_robin-never-offered-first",
        ),
    ],
)
def test_strategy_picks_expected_agent(
    strategy: Strategy, require: dict[str, int] | None, agents: list[Agent], expected: str
) -> None:
    rules = single_queue(strategy, require)
    assert winner(rules, agents) == expected
    assert winner(rules, list(reversed(agents))) == expected


def test_best_skill_without_requirement_ranks_by_the_queue_skills() -> None:
    """With an empty `require`, proficiency means the queue's skills, not the average over
    every skill the agent happens to have (an extra weak skill must not count against it)."""
    rules = RoutingRules(
        queues={
            "support": QueueConfig(
                name="support", skills=("support",), strategy=Strategy.BEST_SKILL
            )
        },
        rules=(Rule(name="r", queue="support"),),
    )
    expert = make_agent("expert", {"support": 5, "billing": 1}, idle=10)
    average = make_agent("average", {"support": 3}, idle=500)
    decision = decide(make_ticket(queue="support", rule="r"), [average, expert], rules, T0)
    assert decision is not None
    assert decision.agent_id == "expert"


def test_random_is_deterministic_per_call_and_spreads_over_calls() -> None:
    rules = single_queue(Strategy.RANDOM)
    agents = [make_agent(f"a{i}", idle=10 * i) for i in range(5)]
    picks = {}
    for n in range(40):
        call_id = f"call-{n}"
        first = winner(rules, agents, call_id)
        assert winner(rules, list(reversed(agents)), call_id) == first
        assert winner(rules, agents[1:] + agents[:1], call_id) == first
        picks[call_id] = first
    assert len(set(picks.values())) >= 3


def test_random_winner_stays_the_winner_when_a_loser_leaves() -> None:
    rules = single_queue(Strategy.RANDOM)
    agents = [make_agent(f"a{i}") for i in range(4)]
    first = winner(rules, agents, "c-42")
    loser = next(a for a in agents if a.id != first)
    assert winner(rules, [a for a in agents if a is not loser], "c-42") == first


# --- eligibility --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agent", "ticket", "reason"),
    [
        pytest.param(make_agent("a"), make_ticket(), None, id="eligible"),
        pytest.param(
            make_agent("a", presence=Presence.AWAY), make_ticket(), "away/idle", id="away"
        ),
        pytest.param(
            make_agent("a", presence=Presence.OFFLINE), make_ticket(), "offline/idle", id="offline"
        ),
        pytest.param(
            make_agent("a", presence=Presence.BREAK), make_ticket(), "break/idle", id="break"
        ),
        pytest.param(
            make_agent("a", activity=Activity.ON_CALL),
            make_ticket(),
            "available/on_call",
            id="on-call",
        ),
        pytest.param(
            make_agent("a", activity=Activity.RESERVED),
            make_ticket(),
            "available/reserved",
            id="reserved",
        ),
        pytest.param(
            make_agent("a", activity=Activity.WRAP_UP),
            make_ticket(),
            "available/wrap_up",
            id="wrap-up",
        ),
        pytest.param(
            make_agent("a", blocked_until=T0 + timedelta(seconds=1)),
            make_ticket(),
            "backing off after a missed offer",
            id="backing-off",
        ),
        pytest.param(
            make_agent("a", blocked_until=T0), make_ticket(), None, id="back-off-ends-now"
        ),
        pytest.param(
            make_agent("a", blocked_until=T0 - timedelta(seconds=30)),
            make_ticket(),
            None,
            id="back-off-over",
        ),
        pytest.param(
            make_agent("a"),
            make_ticket(declined_by=("x", "a")),
            "declined this call",
            id="declined",
        ),
        pytest.param(
            make_agent("a"), make_ticket(declined_by=("x",)), None, id="someone-else-declined"
        ),
        pytest.param(
            make_agent("a", {"support": 5}),
            make_ticket(),
            "not in queue billing",
            id="missing-queue-skill",
        ),
        pytest.param(
            make_agent("a", {}), make_ticket(queue="general"), None, id="general-takes-anyone"
        ),
        pytest.param(
            make_agent("a", {}), make_ticket(queue="unknown"), None, id="unknown-queue-anyone"
        ),
        pytest.param(
            make_agent("a", {"billing": 3}),
            make_ticket(rule="vip"),
            "billing 3 < 4",
            id="proficiency-below-step",
        ),
        pytest.param(
            make_agent("a", {"billing": 4}), make_ticket(rule="vip"), None, id="proficiency-met"
        ),
        pytest.param(
            make_agent("a", {"billing": 5}),
            make_ticket(rule="spanish"),
            "spanish 0 < 3",
            id="required-skill-missing",
        ),
        pytest.param(
            make_agent("a", {"billing": 5}),
            make_ticket(rule="vip", prefer_agent="p", waited=5),
            "reserved for last agent p for 20s",
            id="preferred-window",
        ),
        pytest.param(
            make_agent("p", {"billing": 5}),
            make_ticket(rule="vip", prefer_agent="p", waited=5),
            None,
            id="preferred-agent-itself",
        ),
        pytest.param(
            make_agent("a", {"billing": 5}),
            make_ticket(rule="vip", prefer_agent="p", waited=20),
            None,
            id="preferred-window-over",
        ),
    ],
)
def test_why_not(agent: Agent, ticket: Ticket, reason: str | None) -> None:
    assert why_not(ticket, agent, RULES, T0) == reason
    decision = decide(ticket, [agent], RULES, T0)
    assert (decision is None) == (reason is not None)


def test_presence_is_checked_before_skills_and_back_off() -> None:
    agent = make_agent(
        "a", {"support": 1}, presence=Presence.AWAY, blocked_until=T0 + timedelta(seconds=5)
    )
    assert why_not(make_ticket(declined_by=("a",)), agent, RULES, T0) == "away/idle"


@pytest.mark.parametrize(
    ("agent", "ticket", "reason"),
    [
        pytest.param(
            make_agent("a", {"support": 1}, blocked_until=T0 + timedelta(seconds=5)),
            make_ticket(declined_by=("a",)),
            "backing off after a missed offer",
            id="back-off-before-declined",
        ),
        pytest.param(
            make_agent("a", {"support": 1}),
            make_ticket(declined_by=("a",)),
            "declined this call",
            id="declined-before-queue",
        ),
        pytest.param(
            make_agent("a", {"support": 5}),
            make_ticket(rule="vip"),
            "not in queue billing",
            id="queue-before-skills",
        ),
        pytest.param(
            make_agent("a", {"billing": 3}),
            make_ticket(rule="vip", prefer_agent="p", waited=5),
            "billing 3 < 4",
            id="skills-before-preference",
        ),
    ],
)
def test_the_first_check_that_fails_names_the_reason(
    agent: Agent, ticket: Ticket, reason: str
) -> None:
    assert why_not(ticket, agent, RULES, T0) == reason


# --- steps widen as the call waits ----------------------------------------------------------


@pytest.mark.parametrize(
    ("waited", "index", "require", "next_at"),
    [
        (0.0, 0, {"billing": 4}, 30.0),
        (29.999, 0, {"billing": 4}, 30.0),
        (30.0, 1, {"billing": 2}, 90.0),
        (89.5, 1, {"billing": 2}, 90.0),
        (90.0, 2, {}, None),
        (5000.0, 2, {}, None),
    ],
)
def test_active_step_and_next_step_at(
    waited: float, index: int, require: dict[str, int], next_at: float | None
) -> None:
    got_index, step = active_step(VIP, waited)
    assert (got_index, dict(step.require)) == (index, require)
    assert step is VIP.steps[index]
    assert next_step_at(VIP, waited) == next_at


def test_single_step_rule_never_widens() -> None:
    assert active_step(PLAIN, 1e6) == (0, PLAIN.steps[0])
    assert next_step_at(PLAIN, 0.0) is None


@pytest.mark.parametrize(
    ("waited", "reason"),
    [
        (0.0, "billing 2 < 4"),
        (29.0, "billing 2 < 4"),
        (30.0, None),
        (200.0, None),
    ],
)
def test_requirement_relaxes_as_wait_grows(waited: float, reason: str | None) -> None:
    novice = make_agent("n", {"billing": 2})
    assert why_not(make_ticket(rule="vip", waited=waited), novice, RULES, T0) == reason


@pytest.mark.parametrize(
    ("waited", "reason"),
    [
        (0.0, "not in queue billing"),
        (89.0, "not in queue billing"),
        (90.0, None),
    ],
)
def test_also_queues_lets_another_queue_take_the_call(waited: float, reason: str | None) -> None:
    helper = make_agent("s", {"support": 2})
    ticket = make_ticket(rule="vip", priority=10, waited=waited)
    assert why_not(ticket, helper, RULES, T0) == reason
    decision = decide(ticket, [helper], RULES, T0)
    if reason is None:
        assert decision is not None
        assert (decision.agent_id, decision.step, decision.required) == ("s", 2, {})
    else:
        assert decision is None


def test_also_queues_is_not_a_queue_of_its_own_for_outsiders() -> None:
    outsider = make_agent("x", {"sales": 5})
    reason = why_not(make_ticket(rule="vip", waited=600), outsider, RULES, T0)
    assert reason == "not in queue billing"


# --- plan_assignments ---------------------------------------------------------------------


def assigned(decisions: list[Decision]) -> dict[str, str]:
    return {d.call_id: d.agent_id for d in decisions}


def test_agent_in_two_queues_gets_the_higher_priority_call() -> None:
    both = make_agent("both", {"billing": 3, "support": 3})
    old_billing = make_ticket("old-billing", queue="billing", priority=0, waited=300)
    urgent_support = make_ticket(
        "urgent-support", queue="support", rule="support", priority=5, waited=1
    )
    for tickets in ([old_billing, urgent_support], [urgent_support, old_billing]):
        decisions = plan_assignments(tickets, [both], RULES, T0)
        assert assigned(decisions) == {"urgent-support": "both"}


def test_same_priority_oldest_call_first_across_queues() -> None:
    both = make_agent("both", {"billing": 3, "support": 3})
    billing = make_ticket("b", queue="billing", waited=40)
    support = make_ticket("s", queue="support", rule="support", waited=41)
    decisions = plan_assignments([billing, support], [both], RULES, T0)
    assert assigned(decisions) == {"s": "both"}


def test_decisions_come_in_urgency_order() -> None:
    agents = [make_agent(f"a{i}", idle=i) for i in range(4)]
    tickets = [
        make_ticket("low-new", priority=0, waited=1),
        make_ticket("high", priority=7, waited=2),
        make_ticket("low-old", priority=0, waited=100),
        make_ticket("mid", priority=3, waited=3),
    ]
    decisions = plan_assignments(tickets, agents, RULES, T0)
    assert [d.call_id for d in decisions] == ["high", "mid", "low-old", "low-new"]
    # each call, most urgent first, takes the longest-idle agent still free
    assert [d.agent_id for d in decisions] == ["a3", "a2", "a1", "a0"]


def test_each_agent_is_used_at_most_once_per_pass() -> None:
    agents = [make_agent("a1"), make_agent("a2")]
    tickets = [make_ticket(f"c{i}", waited=i) for i in range(5)]
    decisions = plan_assignments(tickets, agents, RULES, T0)
    assert len(decisions) == 2
    assert sorted(d.agent_id for d in decisions) == ["a1", "a2"]
    assert [d.call_id for d in decisions] == ["c4", "c3"]


def test_a_call_past_its_widening_step_is_planned_for_the_other_queue() -> None:
    """A call no free agent may take at its first step is planned at a later one, in
    whatever order the calls come."""
    helper = make_agent("s", {"support": 2})
    tickets = [
        make_ticket("new-vip", rule="vip", priority=10, waited=10),
        make_ticket("old-vip", rule="vip", priority=10, waited=100),
    ]
    for ordered in (tickets, tickets[::-1]):
        assert assigned(plan_assignments(ordered, [helper], RULES, T0)) == {"old-vip": "s"}


def test_call_nobody_can_take_does_not_block_later_calls() -> None:
    agents = [make_agent("a", {"billing": 3})]
    tickets = [
        make_ticket("needs-spanish", rule="spanish", priority=9, waited=500),
        make_ticket("anyone", priority=0, waited=1),
    ]
    decisions = plan_assignments(tickets, agents, RULES, T0)
    assert assigned(decisions) == {"anyone": "a"}


def test_more_urgent_eligible_call_is_never_passed_over() -> None:
    """The urgent call takes the only agent it can use, even though giving that agent to
    the other call would place more calls in this pass."""
    star = make_agent("star", {"billing": 5}, idle=1000)
    helper = make_agent("helper", {"billing": 2}, idle=10)
    urgent = make_ticket("urgent", rule="vip", priority=10, waited=1)
    normal = make_ticket("normal", priority=0, waited=400)
    decisions = plan_assignments([normal, urgent], [helper, star], RULES, T0)
    assert assigned(decisions) == {"urgent": "star", "normal": "helper"}

    only_star = plan_assignments([normal, urgent], [star], RULES, T0)
    assert assigned(only_star) == {"urgent": "star"}


def test_declined_agent_is_skipped_but_not_lost() -> None:
    a = make_agent("a", idle=500)
    b = make_agent("b", idle=10)
    first = make_ticket("first", waited=60, declined_by=("a",))
    second = make_ticket("second", waited=30)
    decisions = plan_assignments([first, second], [a, b], RULES, T0)
    assert assigned(decisions) == {"first": "b", "second": "a"}


def test_no_agents_or_no_tickets_plan_nothing() -> None:
    assert plan_assignments([make_ticket()], [], RULES, T0) == []
    assert plan_assignments([], [make_agent("a")], RULES, T0) == []


# --- explanations -------------------------------------------------------------------------


def test_decision_explains_rule_step_candidates_and_ranking() -> None:
    idles = {"a1": 100.0, "a2": 700.0, "a3": 300.0, "a4": 50.0, "a5": 900.0, "a6": 20.0}
    agents = [make_agent(i, {"billing": 2}, idle=s) for i, s in idles.items()]
    agents.append(make_agent("slow", {"billing": 1}, idle=5000))  # below the step's 2
    agents.append(make_agent("away", {"billing": 5}, idle=5000, presence=Presence.AWAY))
    ticket = make_ticket("c7", rule="vip", priority=10, waited=40)
    decision = decide(ticket, agents, RULES, T0)
    assert decision is not None
    assert decision.call_id == "c7"
    assert decision.agent_id == "a5"
    assert (decision.rule, decision.queue, decision.priority) == ("vip", "billing", 10)
    assert (decision.step, decision.required) == (1, {"billing": 2})
    assert decision.waited_seconds == 40.0
    assert decision.strategy == "longest_idle"
    assert decision.candidates == 6
    assert decision.decided_at == T0
    assert len(decision.top) == TOP_CANDIDATES_SHOWN == 5
    assert [c.agent_id for c in decision.top] == ["a5", "a2", "a3", "a1", "a4"]
    scores = [c.score for c in decision.top]
    assert scores == sorted(scores)
    assert decision.top[0].detail == "idle 900s"
    assert "longest_idle" in decision.why
    assert "6 eligible" in decision.why


def test_decision_names_the_last_agent_preference() -> None:
    last = make_agent("last", {"billing": 4}, idle=1)
    other = make_agent("other", {"billing": 5}, idle=999)
    ticket = make_ticket(rule="vip", priority=10, waited=5, prefer_agent="last")
    decision = decide(ticket, [other, last], RULES, T0)
    assert decision is not None
    assert (decision.agent_id, decision.candidates) == ("last", 1)
    assert "last agent" in decision.why
    assert "last_agent" in decision.why
    assert [c.agent_id for c in decision.top] == ["last"]


def test_after_the_preference_window_the_strategy_decides() -> None:
    last = make_agent("last", {"billing": 4}, idle=1)
    other = make_agent("other", {"billing": 5}, idle=999)
    ticket = make_ticket(rule="vip", priority=10, waited=25, prefer_agent="last")
    decision = decide(ticket, [last, other], RULES, T0)
    assert decision is not None
    assert (decision.agent_id, decision.candidates) == ("other", 2)
    assert "longest_idle" in decision.why
    assert "last agent" not in decision.why


@pytest.mark.parametrize(
    ("strategy", "agent", "detail"),
    [
        (Strategy.FEWEST_CALLS, make_agent("a", calls_today=4), "4 calls today"),
        (Strategy.LEAST_TALK_TIME, make_agent("a", talk_seconds_today=61.4), "61s talk today"),
        (Strategy.ROUND_ROBIN, make_agent("a"), "last offered never"),
        (
            Strategy.ROUND_ROBIN,
            make_agent("a", last_offered_at=T0),
            f"last offered {T0.isoformat()}",
        ),
        (Strategy.RANDOM, make_agent("a"), "random draw"),
        (Strategy.LONGEST_IDLE, make_agent("a", idle=42), "idle 42s"),
    ],
)
def test_candidate_detail_matches_the_strategy(
    strategy: Strategy, agent: Agent, detail: str
) -> None:
    decision = decide(make_ticket(queue="q", rule="r"), [agent], single_queue(strategy), T0)
    assert decision is not None
    assert decision.strategy == str(strategy)
    assert decision.top[0].detail == detail
    assert str(strategy) in decision.why


@pytest.mark.parametrize(("rule", "shown"), [("removed-rule", "removed-rule"), ("", "none")])
def test_ticket_without_a_known_rule_goes_to_anyone_in_its_queue(rule: str, shown: str) -> None:
    agent = make_agent("a", {"billing": 1})
    decision = decide(make_ticket(rule=rule, waited=3), [agent], RULES, T0)
    assert decision is not None
    assert (decision.agent_id, decision.rule, decision.step, decision.required) == (
        "a",
        shown,
        0,
        {},
    )


def test_wait_is_never_negative() -> None:
    future = make_ticket(waited=-10)
    decision = decide(future, [make_agent("a")], RULES, T0)
    assert decision is not None
    assert decision.waited_seconds == 0.0
