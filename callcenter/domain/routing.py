"""Which agent gets which waiting call: eligibility, cross-queue order, the explanation
(each strategy's ranking is in `routing_strategies`).

Pure: `plan_assignments` takes the waiting tickets, the ready agents and the rules, and
returns decisions (each with its explanation). Storage then claims each pair atomically."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from operator import itemgetter

import msgspec

from callcenter.domain import capacity
from callcenter.domain.agents import Activity, Agent, Presence
from callcenter.domain.messages import TEXT_CHANNELS, Channel
from callcenter.domain.queue_members import QueueMembers, serves
from callcenter.domain.routing_rules import QueueConfig, RoutingRules, Rule, Step
from callcenter.domain.routing_strategies import strategy_detail, strategy_score

TOP_CANDIDATES_SHOWN = 5


class Ticket(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """A waiting call as routing sees it. `queued_at` is its place in line: kept when an
    offer is rejected or times out."""

    call_id: str
    queue: str
    rule: str
    priority: int
    queued_at: datetime
    prefer_agent: str | None = None
    declined_by: tuple[str, ...] = ()
    not_before: datetime | None = None  # not offered before this (a scheduled callback)
    channel: Channel = Channel.VOICE  # callback: nobody is holding, the agent calls back


class Candidate(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: str
    score: float
    detail: str


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """Why a call went to an agent: rule, step, the candidates and the winner's edge."""

    call_id: str
    agent_id: str
    rule: str
    queue: str
    priority: int
    step: int
    required: dict[str, int]
    waited_seconds: float
    strategy: str
    candidates: int
    top: list[Candidate]
    why: str
    decided_at: datetime
    channel: Channel = Channel.VOICE
    capacity: str | None = None  # what the agent held of the channel when offered: "chat 1/3"


Urgency = tuple[int, datetime, str]  # see `urgency`


def urgency(ticket: Ticket, offsets: Mapping[str, int] | None = None) -> Urgency:
    """Sort key: higher priority (plus the channel's offset in the rules) first, then
    longest waiting, then id (stable)."""
    offset = offsets.get(ticket.channel, 0) if offsets else 0
    return (-(ticket.priority + offset), ticket.queued_at, ticket.call_id)


def active_step(rule: Rule, waited_seconds: float) -> tuple[int, Step]:
    """The last step whose `after` has passed (steps are sorted by `after`)."""
    index = 0
    for i, step in enumerate(rule.steps):
        if step.after <= waited_seconds:
            index = i
    return index, rule.steps[index]


def next_step_at(rule: Rule, waited_seconds: float) -> float | None:
    """Seconds of waiting at which the pool widens next, if it still will."""
    later = [s.after for s in rule.steps if s.after > waited_seconds]
    return min(later) if later else None


def _ineligible_reason(
    agent: Agent,
    ticket: Ticket,
    rule: Rule,
    step: Step,
    rules: RoutingRules,
    waited: float,
    now: datetime,
    *,
    member_known: bool = False,
) -> str | None:
    """Why `agent` may not take `ticket` at this step (None: it may). The checks run in a
    fixed order, so the reason shown is always the first that applies."""
    reason = _unavailable(agent, ticket, rules.queue(ticket.queue), now)
    if reason is None and not member_known:
        reason = _outside_queues(agent, ticket, step, rules)
    if reason is None and step.require:
        reason = _missing_skill(agent, step)
    if reason is None and ticket.prefer_agent:
        reason = _held_for_preferred(agent, ticket, rule, waited)
    return reason


def _unavailable(agent: Agent, ticket: Ticket, queue: QueueConfig, now: datetime) -> str | None:
    if ticket.not_before is not None and ticket.not_before > now:
        return f"callback held back until {ticket.not_before.isoformat()}"
    if agent.presence is not Presence.AVAILABLE:
        return f"{agent.presence}/{agent.activity}"
    full = capacity.no_room(
        agent, ticket.channel, queue.capacity, text_during_voice=queue.text_during_voice
    )
    if full is not None:
        on_voice = ticket.channel not in TEXT_CHANNELS and agent.activity is not Activity.IDLE
        return f"{agent.presence}/{agent.activity}" if on_voice else full
    if agent.blocked_until is not None and agent.blocked_until > now:
        return "backing off after a missed offer"
    if agent.id in ticket.declined_by:
        return "declined this call"
    return None


def _outside_queues(agent: Agent, ticket: Ticket, step: Step, rules: RoutingRules) -> str | None:
    if any(serves(agent, rules.queue(q)) for q in (ticket.queue, *step.also_queues)):
        return None
    return f"not in queue {ticket.queue}"


def _missing_skill(agent: Agent, step: Step) -> str | None:
    for skill, level in step.require.items():
        if agent.skills.get(skill, 0) < level:
            return f"{skill} {agent.skills.get(skill, 0)} < {level}"
    return None


def _held_for_preferred(agent: Agent, ticket: Ticket, rule: Rule, waited: float) -> str | None:
    """The caller's last agent has the call to itself for the rule's `prefer_seconds`
    (unless it declined it)."""
    if (
        ticket.prefer_agent
        and ticket.prefer_agent not in ticket.declined_by
        and waited < rule.prefer_seconds
        and agent.id != ticket.prefer_agent
    ):
        return f"reserved for last agent {ticket.prefer_agent} for {rule.prefer_seconds:g}s"
    return None


def rule_of(ticket: Ticket, rules: RoutingRules) -> Rule:
    """The ticket's rule; a call without one (overflowed, or its rule was removed) may go to
    anyone in its queue."""
    # (every task a pass looks at asks: the rules' map is read directly)
    return rules.by_name.get(ticket.rule) or Rule(name=ticket.rule or "none", queue=ticket.queue)


def decide(
    ticket: Ticket,
    agents: Iterable[Agent],
    rules: RoutingRules,
    now: datetime,
    *,
    members_only: bool = False,
) -> Decision | None:
    """The best agent for one ticket among `agents`, or None when nobody is eligible.
    `members_only`: the agents are known to serve the call's queues (skips that check)."""
    rule = rule_of(ticket, rules)
    waited = max(0.0, (now - ticket.queued_at).total_seconds())
    index, step = active_step(rule, waited)
    eligible = [
        agent
        for agent in agents
        if _ineligible_reason(
            agent, ticket, rule, step, rules, waited, now, member_known=members_only
        )
        is None
    ]
    return _decision(ticket, rule, rules.queue(ticket.queue), index, eligible, waited, now)


def _decision(
    ticket: Ticket,
    rule: Rule,
    queue: QueueConfig,
    index: int,
    eligible: Sequence[Agent],
    waited: float,
    now: datetime,
) -> Decision | None:
    """The winner among eligible agents by the queue's strategy, with the explanation."""
    if not eligible:
        return None
    step = rule.steps[index]
    scored = sorted(
        (strategy_score(agent, queue, step, ticket.call_id, now), agent.id, agent)
        for agent in eligible
    )
    best = scored[0][2]
    preferred = ticket.prefer_agent == best.id
    why = (
        f"last agent of this caller ({rule.prefer} preference)"
        if preferred
        else f"best by {queue.strategy} of {len(scored)} eligible"
    )
    return Decision(
        call_id=ticket.call_id,
        agent_id=best.id,
        rule=rule.name,
        queue=ticket.queue,
        priority=ticket.priority,
        step=index,
        required=dict(step.require),
        waited_seconds=round(waited, 3),
        strategy=str(queue.strategy),
        candidates=len(scored),
        top=[
            Candidate(
                agent_id=a.id, score=round(s, 3), detail=strategy_detail(a, queue.strategy, now)
            )
            for s, _, a in scored[:TOP_CANDIDATES_SHOWN]
        ],
        why=why,
        decided_at=now,
        channel=ticket.channel,
        capacity=capacity.usage(best, ticket.channel, queue.capacity),
    )


def plan_assignments(
    tickets: Sequence[Ticket], agents: Sequence[Agent], rules: RoutingRules, now: datetime
) -> list[Decision]:
    """Greedy matching in global urgency order: each call, most urgent first, gets the best
    agent still free in this pass. A call is passed over only if no free agent is eligible
    for it, so a more urgent eligible call is never skipped for a less urgent one."""
    offsets = rules.channel_priority
    keyed = sorted(((urgency(ticket, offsets), ticket) for ticket in tickets), key=itemgetter(0))
    return _Planner(agents, rules, now).plan(keyed, None)[0]


def plan_in_order(
    keyed: Iterable[tuple[Urgency, Ticket]],
    agents: Sequence[Agent],
    rules: RoutingRules,
    now: datetime,
    cut: Urgency | None = None,
) -> tuple[list[Decision], list[Agent], list[Agent]]:
    """`plan_assignments` over tasks that come in urgency order already, each once, with
    their `urgency` (they are taken only as far as needed); the agents left with room once
    every task up to `cut` had its turn; and those left with room at the end."""
    return _Planner(agents, rules, now).plan(keyed, cut)


class _Planner:
    """One pass of `plan_assignments`: the agents still free, and what it has worked out
    about queues and steps so far."""

    def __init__(self, agents: Sequence[Agent], rules: RoutingRules, now: datetime) -> None:
        self.free = {agent.id: agent for agent in agents}
        self._serving = QueueMembers(agents, rules)
        self._rules = rules
        self._now = now
        # Calls with the same queue, rule, step and channel have the same eligible agents (unless
        # they name agents: a preferred one, or ones that declined), so that is worked out
        # once per pass.
        self._shared: dict[tuple[str, str, int, Channel], list[Agent]] = {}
        self._touched: set[str] = set()

    def took(self, ticket: Ticket, agent_id: str) -> None:
        """`agent_id` was given `ticket`: it stays free, holding one more, while it has
        room for some task (a text task, or text during voice where a queue allows)."""
        holding = _holding(self.free.pop(agent_id), ticket)
        blended = self._rules.text_during_voice and capacity.ready_on_voice(holding)
        if capacity.ready(holding) or blended:
            self.free[agent_id] = holding
            # the pools hold the agent as it was: it has less room now, so it is checked
            # again wherever a pool lists it (less room never makes an agent eligible)
            self._touched.add(agent_id)

    def plan(
        self, keyed: Iterable[tuple[Urgency, Ticket]], cut: Urgency | None
    ) -> tuple[list[Decision], list[Agent], list[Agent]]:
        """Each task of `keyed` (in urgency order, with its urgency) gets the best agent
        still free; the decisions, the agents free at `cut`, and those free at the end.
        Only tasks some free agent could take now are looked at: in a queue with free
        members, or under a rule whose steps reach into other queues, and not held back (a
        callback scheduled for later)."""
        decisions, at_cut, free = [], None, self.free
        for key, ticket in self._relevant(keyed):
            if at_cut is None and cut is not None and key > cut:
                at_cut = list(free.values())
            if not free:
                break
            decision = self.decide(ticket)
            if decision is not None:
                decisions.append(decision)
                self.took(ticket, decision.agent_id)
        left = list(free.values())
        return decisions, left if at_cut is None else at_cut, left

    def _relevant(
        self, keyed: Iterable[tuple[Urgency, Ticket]]
    ) -> Iterator[tuple[Urgency, Ticket]]:
        """The tasks of `keyed` some free agent could take now (see `plan`)."""
        has_members, widening = self._serving.has_members, self._rules.widening_rules
        now = self._now
        staffed: dict[str, bool] = {}  # by queue: has members
        for item in keyed:
            ticket = item[1]
            members = staffed.get(ticket.queue)
            if members is None:
                members = staffed[ticket.queue] = has_members(ticket.queue)
            if (members or ticket.rule in widening) and (
                ticket.not_before is None or ticket.not_before <= now
            ):
                yield item

    def decide(self, ticket: Ticket) -> Decision | None:
        """The best free agent for `ticket` (None: no free agent is eligible)."""
        rules, now, free = self._rules, self._now, self.free
        rule = rule_of(ticket, rules)
        waited = (now - ticket.queued_at).total_seconds()
        if waited < 0.0:
            waited = 0.0
        index, step = active_step(rule, waited)
        if ticket.prefer_agent or ticket.declined_by:
            members = self._serving.of(ticket.queue, step.also_queues)
            candidates = [free[a] for a in members if a in free]
            return decide(ticket, candidates, rules, now, members_only=True)
        shared = self._shared.get((ticket.queue, rule.name, index, ticket.channel))
        if shared is None:
            shared = self._shared_pool(ticket, rule, index, step, waited)
        if not shared:
            return None  # nobody free may take it (the usual case for most tasks looked at)
        eligible = self._still_eligible(shared, ticket, rule, step, waited)
        return _decision(ticket, rule, rules.queue(ticket.queue), index, eligible, waited, now)

    def _still_eligible(
        self, shared: list[Agent], ticket: Ticket, rule: Rule, step: Step, waited: float
    ) -> list[Agent]:
        """The pool's agents still free, as they are now (any given a task is checked again)."""
        free, touched, rules, now = self.free, self._touched, self._rules, self._now
        return [
            free[a.id]
            for a in shared
            if a.id in free
            and (
                a.id not in touched
                or _ineligible_reason(
                    free[a.id], ticket, rule, step, rules, waited, now, member_known=True
                )
                is None
            )
        ]

    def _shared_pool(
        self, ticket: Ticket, rule: Rule, index: int, step: Step, waited: float
    ) -> list[Agent]:
        """The agents eligible for every call of this queue, rule and step (some may have
        been assigned since: the caller filters by `free`)."""
        key = (ticket.queue, rule.name, index, ticket.channel)
        pool = self._shared.get(key)
        if pool is None:
            free, rules, now = self.free, self._rules, self._now
            members = self._serving.of(ticket.queue, step.also_queues)
            pool = self._shared[key] = [
                free[a]
                for a in members
                if a in free
                and _ineligible_reason(
                    free[a], ticket, rule, step, rules, waited, now, member_known=True
                )
                is None
            ]
        return pool


def _holding(agent: Agent, ticket: Ticket) -> Agent:
    """The agent as an offer of `ticket` leaves it (what the claim will store)."""
    if ticket.channel in TEXT_CHANNELS:
        return msgspec.structs.replace(
            agent, tasks={**agent.tasks, ticket.call_id: str(ticket.channel)}
        )
    return msgspec.structs.replace(agent, activity=Activity.RESERVED, call_id=ticket.call_id)


def why_not(ticket: Ticket, agent: Agent, rules: RoutingRules, now: datetime) -> str | None:
    """Why `agent` may not take `ticket` right now (None: it may)."""
    rule = rule_of(ticket, rules)
    waited = max(0.0, (now - ticket.queued_at).total_seconds())
    _, step = active_step(rule, waited)
    return _ineligible_reason(agent, ticket, rule, step, rules, waited, now)
