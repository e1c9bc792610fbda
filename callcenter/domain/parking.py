"""Ready agents a dispatch pass may leave out ("parked"): nothing in any line they could
serve is theirs to take, and nothing can make it theirs until one of those lines changes,
a line they could serve appears, the agent or the rules change, or time alone does it (a
step widening, a preferred agent's hold ending, a scheduled callback's hour, the agent's
back-off ending).

Leaving such an agent out changes no decision: it would never be chosen. Without it, each
pass ranks the whole of those lines again for every agent waiting for a step to widen, and
the cost of a pass grows with them. A parked agent is planned again after `PARK_SECONDS` at
the latest, whatever the counts say (a safety net for a line written without counting, by
an instance of an older version during an upgrade)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from callcenter.domain.agents import Agent
from callcenter.domain.routing import Ticket, active_step, next_step_at, rule_of, why_not
from callcenter.domain.routing_index import Head, Line, LineSet, lines_to_read
from callcenter.domain.routing_rules import RoutingRules, Rule

PARK_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Parked:
    """Why an agent may be left out: its version, the rules, its lines as read (with their
    change counts), until when time alone changes nothing, and the tasks found not its to
    take (a later check of the same agent looks only at the others, and reads again only
    the lines whose counts moved)."""

    agent_version: int
    rules: RoutingRules
    heads: Mapping[Line, Head]
    until: datetime
    checked: Mapping[str, Ticket]


def park(
    agent: Agent,
    heads: Mapping[Line, Head],
    lines: Iterable[Line],
    rules: RoutingRules,
    now: datetime,
    prior: Parked | None = None,
    *,
    longest: float = PARK_SECONDS,
) -> Parked | None:
    """The agent parked, when every line of `lines` it could serve was read to its end and
    none of their tasks may go to it now; else None. `prior`: the agent's last parking,
    whose tasks need no second look while it holds (same agent and rules, time not come);
    `longest`: seconds it may stay parked at most."""
    read = _read_whole(lines_to_read(lines, [agent], rules), heads)
    if read is None:
        return None
    base, until = _carried(prior, agent, rules, now, longest)
    checked, fresh = _looked_at(read, base)
    parked_until = _parked_until(fresh, agent, rules, now, until)
    if parked_until is None or parked_until <= now:
        return None
    return Parked(agent.version, rules, read, parked_until, checked)


def _parked_until(
    tickets: Iterable[Ticket], agent: Agent, rules: RoutingRules, now: datetime, until: datetime
) -> datetime | None:
    """None when `agent` may take one of `tickets` now; else the first moment, `until` at
    the latest, when time alone may change that for one of them (see `wakes_at`). Tasks of
    one queue, rule, channel and step that name no agent (preferred, or declined) and are
    not held back are alike for one agent (see `routing._ineligible_reason`): one answer
    serves them all, and a whole line of them costs one look."""
    alike: dict[tuple[str, str, str, int], bool] = {}
    for ticket in tickets:
        rule = rule_of(ticket, rules)
        waited = max(0.0, (now - ticket.queued_at).total_seconds())
        takeable: bool | None
        if ticket.prefer_agent or ticket.declined_by or ticket.not_before is not None:
            takeable = why_not(ticket, agent, rules, now) is None
        else:
            key = (ticket.queue, rule.name, str(ticket.channel), active_step(rule, waited)[0])
            takeable = alike.get(key)
            if takeable is None:
                takeable = alike[key] = why_not(ticket, agent, rules, now) is None
        if takeable:
            return None
        moment = _wakes(ticket, rule, waited, now)
        if moment is not None and moment < until:
            until = moment
    return until


def _carried(
    prior: Parked | None, agent: Agent, rules: RoutingRules, now: datetime, longest: float
) -> tuple[Parked | None, datetime]:
    """What a parking starts from: the prior parking if it still holds, and until when it
    may last (the prior's time, or `longest`; and not past the agent's back-off)."""
    base = prior if prior is not None and _holds(prior, agent, rules, now) else None
    until = base.until if base is not None else now + timedelta(seconds=longest)
    if agent.blocked_until is not None and agent.blocked_until > now:
        until = min(until, agent.blocked_until)
    return base, until


def _looked_at(
    read: Mapping[Line, Head], base: Parked | None
) -> tuple[dict[str, Ticket], list[Ticket]]:
    """The tasks of the lines `read` by call, and those that need a look: all of them, or,
    from a prior parking, the new or changed tasks of the lines read again since. (Tasks
    the prior found that have left are kept: they only ever spare a look.)"""
    if base is None:
        checked: dict[str, Ticket] = {}
        moved: Iterable[Head] = read.values()
    else:
        checked = dict(base.checked)
        moved = [head for line, head in read.items() if base.heads.get(line) is not head]
    fresh = []
    for head in moved:
        for ticket in head.tickets:
            before = checked.get(ticket.call_id)
            if before is not ticket and before != ticket:
                checked[ticket.call_id] = ticket
                fresh.append(ticket)
    return checked, fresh


def _read_whole(lines: Iterable[Line], heads: Mapping[Line, Head]) -> dict[Line, Head] | None:
    """The heads of `lines`, when each was read to its end (else None)."""
    read = {}
    for line in lines:
        head = heads.get(line)
        if head is None or not head.complete:
            return None
        read[line] = head
    return read


def _holds(parked: Parked, agent: Agent, rules: RoutingRules, now: datetime) -> bool:
    return agent.version == parked.agent_version and rules is parked.rules and now < parked.until


def still_parked(
    parked: Parked, agent: Agent, changes: Mapping[Line, int], rules: RoutingRules, now: datetime
) -> bool:
    """Whether the agent, as read now, may still be left out: the same agent, rules and
    change counts of its lines (`changes`: as read now; a line without a count is at 0),
    and the time has not come."""
    return _holds(parked, agent, rules, now) and all(
        changes.get(line, 0) == head.changes for line, head in parked.heads.items()
    )


def _still(
    parked: Parked,
    agent: Agent,
    changes: Mapping[Line, int],
    moved: set[Line],
    rules: RoutingRules,
    now: datetime,
) -> bool:
    """`still_parked`, the counts compared only when one of the agent's lines moved."""
    if not moved or moved.isdisjoint(parked.heads):
        return _holds(parked, agent, rules, now)
    return still_parked(parked, agent, changes, rules, now)


def caught_up(
    parked: Parked,
    agent: Agent,
    changes: Mapping[Line, int],
    joined: Mapping[Line, Ticket],
    lines: Iterable[Line],
    rules: RoutingRules,
    now: datetime,
) -> Parked | None:
    """The agent parked again without reading its lines, when each moved by one task
    joining it at most (`changes`: the counts read now; `joined`: the task whose joining
    made a line's count) and none of those tasks may go to it now either; else None (its
    lines are to be read). The tasks are added to the lines as parked: tasks that have left
    since stay there, and only ever spare a look. `lines`: the lines found now."""
    if not _holds(parked, agent, rules, now):
        return None
    heads = dict(parked.heads)
    for line, head in parked.heads.items():
        count = changes.get(line, 0)
        if count == head.changes:
            continue
        task = joined.get(line)
        if task is None or count != head.changes + 1:
            return None
        heads[line] = Head((*head.tickets, task), True, count)
    return park(agent, heads, lines, rules, now, parked)


def reaches_new_lines(agent: Agent, appeared: Collection[Line], rules: RoutingRules) -> bool:
    """Whether the agent could serve one of the lines that `appeared` since the last pass
    (a line it could not see when parked)."""
    return bool(appeared) and bool(lines_to_read(appeared, [agent], rules))


def wakes_at(ticket: Ticket, rules: RoutingRules, now: datetime) -> datetime | None:
    """The first moment after `now` when time alone changes who may take `ticket`: its
    next step, the end of its preferred agent's hold, its callback's hour (None: never)."""
    waited = max(0.0, (now - ticket.queued_at).total_seconds())
    return _wakes(ticket, rule_of(ticket, rules), waited, now)


def _wakes(ticket: Ticket, rule: Rule, waited: float, now: datetime) -> datetime | None:
    """`wakes_at`, the ticket's rule and wait worked out."""
    moment = None
    widens = next_step_at(rule, waited)
    if widens is not None:
        moment = ticket.queued_at + timedelta(seconds=widens)
    if ticket.prefer_agent and waited < rule.prefer_seconds:
        held = ticket.queued_at + timedelta(seconds=rule.prefer_seconds)
        moment = held if moment is None else min(moment, held)
    if ticket.not_before is not None and ticket.not_before > now:
        moment = ticket.not_before if moment is None else min(moment, ticket.not_before)
    return moment


class ParkingLot:
    """The agents this instance's passes parked, kept from one pass to the next."""

    def __init__(self) -> None:
        self._parked: dict[str, Parked] = {}
        self._lines = LineSet(())  # the lines the last pass found
        self._priors: dict[str, Parked] = {}  # this pass's agents parked until it
        self._counts: Mapping[Line, int] = {}  # this pass's change counts of their lines
        self._counted: list[Line] | None = None  # `counted`, until the parked change

    def __len__(self) -> int:
        return len(self._parked)

    def counted(self) -> list[Line]:
        """The lines whose change counts tell whether the agents parked still are (worked
        out again only when an agent was parked or left)."""
        if self._counted is None:
            self._counted = list({line: None for p in self._parked.values() for line in p.heads})
        return list(self._counted)

    def _park(self, agent_id: str, parked: Parked) -> None:
        self._parked[agent_id] = parked
        self._counted = None

    def sort_out(
        self,
        agents: Iterable[Agent],
        lines: Collection[Line],
        changes: Mapping[Line, int],
        rules: RoutingRules,
        now: datetime,
        *,
        joined: Mapping[Line, Ticket] | None = None,
    ) -> list[Agent]:
        """The agents to plan: those not parked, or no longer (the others stay parked;
        agents no longer ready are forgotten). `lines`: the lines found now; `changes`:
        the counts of the lines `counted` named; `joined`: of those, the task whose
        joining made the count (see `caught_up`)."""
        last_joined: Mapping[Line, Ticket] = {} if joined is None else joined
        found = self._lines
        if lines is not found:  # storage hands out the same set until it changes
            found = lines if isinstance(lines, LineSet) else LineSet(lines)
            appeared = found.members - self._lines.members
            self._lines = found
        else:
            appeared = frozenset()
        moved = self._moved(changes)
        kept: dict[str, Parked] = {}
        self._priors = {}
        active = []
        for agent in agents:
            parked = self._parked.get(agent.id)
            if parked is None:
                active.append(agent)
                continue
            if reaches_new_lines(agent, appeared, rules):
                again = None
            elif _still(parked, agent, changes, moved, rules, now):
                again = parked
            else:
                again = caught_up(parked, agent, changes, last_joined, found, rules, now)
            if again is not None:
                kept[agent.id] = again
            else:
                active.append(agent)
                self._priors[agent.id] = parked
        if len(kept) != len(self._parked):
            self._counted = None
        self._parked = kept
        return active

    def _moved(self, changes: Mapping[Line, int]) -> set[Line]:
        """The lines whose counts moved since the last pass, which are now `changes`.
        Counts only grow, and a parking's counts were read after the last pass read its
        own: so a line whose count has not moved since the last pass still has the count
        a parking holds (a line the last pass did not count is taken as moved)."""
        last, self._counts = self._counts, changes
        if changes == last:  # the usual pass: compared without hashing a line
            return set()
        return {line for line, count in changes.items() if last.get(line, -1) != count}

    def suspects(self, agents: Iterable[Agent], rules: RoutingRules, now: datetime) -> list[Agent]:
        """Of `agents` (not parked), those parked until this pass whose parking still holds
        but for their lines' counts: a look at their lines' new tasks may park them again."""
        priors = self._priors
        return [a for a in agents if a.id in priors and _holds(priors[a.id], a, rules, now)]

    def to_look_at(
        self, suspects: Sequence[Agent], lines: Iterable[Line], rules: RoutingRules
    ) -> list[Line]:
        """Of `lines`, those to read whole for `suspects` to be looked at again: the ones
        they could serve, less those whose count has not moved since a prior read them."""
        unmoved = {line for agent in suspects for line in self._unmoved(self._priors[agent.id])}
        return [line for line in lines_to_read(lines, suspects, rules) if line not in unmoved]

    def _unmoved(self, prior: Parked) -> dict[Line, Head]:
        counts = self._counts
        return {
            line: head for line, head in prior.heads.items() if counts.get(line, 0) == head.changes
        }

    def recheck(
        self,
        agents: Iterable[Agent],
        heads: Mapping[Line, Head],
        rules: RoutingRules,
        now: datetime,
    ) -> list[Agent]:
        """`agents` less the `suspects` parked again by a look at `heads` (read now,
        with the lines `to_look_at` named read whole)."""
        active = []
        complete = {line: head for line, head in heads.items() if head.complete}
        for agent in agents:
            prior = self._priors.get(agent.id)
            parked = None
            if prior is not None:
                # lines read whole now, over those unmoved since the prior read them
                read = self._unmoved(prior) | complete
                parked = park(agent, read, self._lines, rules, now, prior)
            if parked is None:
                active.append(agent)
            else:
                self._park(agent.id, parked)
        return active

    def park_idle(
        self,
        idle: Iterable[Agent],
        heads: Mapping[Line, Head],
        rules: RoutingRules,
        now: datetime,
    ) -> None:
        """Park those of `idle` (given nothing by the pass) that may be parked."""
        for agent in idle:
            parked = park(agent, heads, self._lines, rules, now, self._priors.get(agent.id))
            if parked is not None:
                self._park(agent.id, parked)
