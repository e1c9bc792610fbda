"""Dispatch: match waiting calls with ready agents and claim each pair atomically.

Triggered by events (a call queued, an agent freed, a step widened). One pass at a time per
instance; triggers that arrive during a pass cause exactly one more pass. A pass reads the
ready agents and the heads of the waiting lines they could serve, not every waiting call
(`domain/routing_index.py`); for the agents freed on this instance, those heads come with
the ready agents, in the pass's first round trip (`freed_agents.py`). Instances race
safely: a claim commits only if neither the call nor the agent changed since it was
read."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from callcenter.domain.agents import Agent
from callcenter.domain.calls import Call
from callcenter.domain.parking import ParkingLot
from callcenter.domain.routing import Decision
from callcenter.domain.routing_index import (
    Head,
    HeadsPlan,
    Line,
    lines_to_read,
    plan_from_heads,
)
from callcenter.domain.routing_rules import RoutingRules
from callcenter.metrics import Metrics
from callcenter.services.clock import Clock
from callcenter.services.freed_agents import FreedAgents
from callcenter.services.notify import RouteNotifier
from callcenter.services.offer_claims import OfferClaims, Outcome
from callcenter.services.pass_opening import FIRST_HEAD_LENGTH, Opening, PassOpenings
from callcenter.services.rules_source import RulesSource
from callcenter.services.task_failures import log_failure
from callcenter.storage.agents import AgentRepository
from callcenter.storage.calls import CallRepository
from callcenter.storage.dispatch_turn import TURN_SECONDS, DispatchTurn, Taken
from callcenter.storage.joint_reads import Read, read_both

logger = logging.getLogger(__name__)

Finished = tuple[bool, bool]  # the turn's finishing: (kept, a pass asked for here since)

# A pass reads `FIRST_HEAD_LENGTH` tasks of each line first (see `pass_opening`). Then, if
# the heads did not settle the pass (agents left free: none of the tasks read is theirs to
# take), the lines those agents could serve are read to their end, in one go.
WHOLE_LINE = 1_000_000


@dataclass(frozen=True, slots=True)
class PassTiming:
    """Where the last pass spent its time (for benchmarks and debugging)."""

    agents: int = 0  # ready
    planned: int = 0  # of them, not parked (see `domain/parking`)
    tickets: int = 0  # read from the heads of the lines
    load_seconds: float = 0.0
    rank_seconds: float = 0.0


class Dispatcher:
    def __init__(
        self,
        calls: CallRepository,
        agents: AgentRepository,
        rules: RulesSource,
        *,
        turn: DispatchTurn,
        clock: Clock,
        metrics: Metrics,
        notify: RouteNotifier,
        freed: FreedAgents | None = None,
    ) -> None:
        """`freed`: the agents this instance's commits freed, whose lines' heads a pass
        reads with its first read (see `freed_agents`)."""
        self._turn = turn
        self._openings = PassOpenings(agents, calls.reads, freed)
        self._claims = OfferClaims(calls, rules, clock=clock, metrics=metrics, notify=notify)
        self._took_last = True  # this instance took the turn last time it tried
        self._calls = calls
        self._lines = calls.reads  # the waiting lines as passes read them (heads held)
        self._agents = agents
        self._rules = rules
        self._clock = clock
        self._metrics = metrics
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.last_pass = PassTiming()
        self._left_free: set[str] = set()  # agents the last pass left with room
        self._parking = ParkingLot()  # agents left out of passes: nothing there for them
        self._retry: asyncio.TimerHandle | None = None

    def request(self) -> None:
        """Ask for a pass soon. Cheap; many requests during a pass make one more pass."""
        self._dirty = True
        if self._stopping or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="dispatch")

    async def run_now(self) -> None:
        """Request a pass and wait until the passes it started or joined are done."""
        self.request()
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        self._stopping = True
        if self._retry is not None:
            self._retry.cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        """Passes while they are asked for, when this instance has the dispatch turn (else
        the instance holding it runs the pass owed)."""
        while self._dirty and not self._stopping:
            self._dirty = False
            try:
                await self._take_turn_and_pass()
            except Exception:
                # task boundary: log, count, and let the next trigger try again
                log_failure(logger, "dispatch pass failed")
                self._metrics.task_errors_total.labels("dispatch").inc()
                await asyncio.sleep(0.1)

    async def _take_turn_and_pass(self) -> None:
        """Take the turn, unless nobody is ready (an agent becoming ready asks for a pass),
        and run the passes owed. When this instance took the turn last time (with one
        instance, always), the first pass's first read goes with the taking, in one round
        trip; else it would mostly be read for nothing."""
        rules = self._rules.current
        ready = self._agents.ready_indexes(on_voice=rules.text_during_voice)
        take = self._turn.take_read(unless_empty=ready)
        opening = None
        if self._took_last:
            taken, opening = await read_both(take, self._opening(rules))
        else:
            taken = await take.run()
        if taken is Taken.NOTHING_TO_PLAN:
            return
        self._took_last = taken is Taken.TAKEN
        if taken is Taken.TAKEN:
            await self._passes(opening)
        else:
            self._ask_again_later()

    async def _passes(self, opening: Opening | None) -> None:
        """Passes while this instance or another asks for one, then give up the turn. The
        first starts from `opening` when it was read. A pass's last claim carries the
        finishing of the turn, in its round trip; a pass without a claim finishes after."""
        while True:
            if opening is None:
                opening = await self._opening(self._rules.current).run()
            _, finished = await self._pass(opening, finishing=True)
            opening = None
            if self._stopping:
                await self._turn.release()
                return
            kept, again = finished or await self._finish_read().run()
            if not kept:
                # the turn was given up, or lost (expired) with a pass still to ask for
                self._dirty = self._dirty or again
                return

    def _finish_read(self) -> Read[Finished]:
        """The turn's finishing, asking for another pass if one was asked for here since
        the last: (the turn kept, asked again)."""
        again, self._dirty = self._dirty, False
        return self._turn.finish_read(again=again).mapped(lambda kept: (kept, again))

    def _ask_again_later(self) -> None:
        """Another instance holds the turn and owes our pass. Should it die holding it,
        the turn expires: ask again then (once; asking again renews this)."""
        if self._retry is None and not self._stopping:
            loop = asyncio.get_running_loop()
            self._retry = loop.call_later(TURN_SECONDS, self._retry_now)

    def _retry_now(self) -> None:
        self._retry = None
        self.request()

    async def run_pass(self) -> int:
        """One matching pass; returns the number of offers made."""
        made, _ = await self._pass(await self._opening(self._rules.current).run())
        return made

    def _opening(self, rules: RoutingRules) -> Read[Opening]:
        """A pass's first read (one round trip, see `pass_opening`)."""
        return self._openings.read(rules, self._parking.counted())

    async def _pass(
        self, opening: Opening, *, finishing: bool = False
    ) -> tuple[int, Finished | None]:
        """The pass that `opening` starts: the number of offers made, and, with
        `finishing`, how its last claim finished the dispatch turn (None when no claim
        carried it: see `_passes`)."""
        agents = opening.agents
        if not agents:
            return 0, None
        decisions, timing = await self._plan(agents, opening, self._clock.now())
        self.last_pass = timing
        if not decisions:
            return 0, None
        ranked_each = timing.rank_seconds / len(decisions)
        by_id = {agent.id: agent for agent in agents}
        calls = await self._calls.get_decided([d.call_id for d in decisions])
        made, finished = 0, None
        last = len(decisions) - 1
        for at, (decision, call) in enumerate(zip(decisions, calls, strict=True)):
            claim_started = time.perf_counter()
            claimed = None
            if call is not None:
                # (should the call have left its lines, the finishing is not sent: the
                # claim asks for a pass, so `_passes` finishes after, asking again)
                finish = self._finish_read() if finishing and at == last else None
                claimed, finished = await self._claim(
                    call, by_id[decision.agent_id], decision, finish
                )
            if claimed is not None:
                # an agent with room for more text tasks may have another decision to come
                by_id[claimed.id] = claimed
                made += 1
            self._metrics.routing_decision_seconds.observe(
                ranked_each + time.perf_counter() - claim_started
            )
        return made, finished

    async def _plan(
        self, agents: list[Agent], opening: Opening, now: datetime
    ) -> tuple[list[Decision], PassTiming]:
        """The pass's decisions, from the heads of the lines the ready agents could serve,
        lengthened until they settle it (see `routing_index`), parked agents left out (see
        `domain/parking`), starting from what the pass's first read found."""
        ready_count, rules, found = len(agents), opening.rules, opening.found
        agents = self._parking.sort_out(
            agents, found, opening.counts, rules, now, joined=opening.joined
        )
        heads, whole = await self._first_read(agents, opening, now)
        ranking = time.perf_counter()
        agents = self._parking.recheck(agents, heads, rules, now)
        lines = lines_to_read(found, agents, rules)
        heads = {line: heads[line] for line in lines if line in heads}
        ranking = time.perf_counter() - ranking
        plan, planning = await self._read_and_plan(lines, heads, whole, agents, rules, now)
        ranking += planning
        ranking += self._after_plan(plan, heads, rules, now)
        timing = PassTiming(
            agents=ready_count,
            planned=len(agents),
            tickets=sum(len(head.tickets) for head in heads.values()),
            load_seconds=time.perf_counter() - opening.started - ranking,
            rank_seconds=ranking,
        )
        return plan.decisions or [], timing

    def _after_plan(
        self, plan: HeadsPlan, heads: Mapping[Line, Head], rules: RoutingRules, now: datetime
    ) -> float:
        """Remember the agents a settled plan left free, and park those given nothing that
        may be parked; the seconds it took."""
        if plan.decisions is None:
            self._left_free = set()
            return 0.0
        started = time.perf_counter()
        self._left_free = {agent.id for agent in plan.free}
        given = {decision.agent_id for decision in plan.decisions}
        idle = [agent for agent in plan.free if agent.id not in given]
        self._parking.park_idle(idle, heads, rules, now)
        return time.perf_counter() - started

    async def _read_and_plan(
        self,
        lines: Sequence[Line],
        heads: dict[Line, Head],
        whole: set[Line],
        agents: Sequence[Agent],
        rules: RoutingRules,
        now: datetime,
    ) -> tuple[HeadsPlan, float]:
        """Read the heads of `lines` (those not in `heads` yet; whole those in `whole`),
        plan, and read on until the plan is settled; the plan and the seconds spent
        planning."""
        plan, to_read = HeadsPlan(None, agents, lines), [ln for ln in lines if ln not in heads]
        planning = 0.0
        # A pass for one agent (the usual one: an agent freed, the others parked): its first
        # try names only the lines that set its cut, as one of them read whole often settles
        # it (then one more try at most). Not for more agents: each try plans them all
        # again, which costs more than reading their lines at once.
        nearest = len(agents) == 1
        while lines:
            lengths = {line: WHOLE_LINE if line in whole else FIRST_HEAD_LENGTH for line in to_read}
            heads.update(await self._lines.heads(lengths))
            ranked_from = time.perf_counter()
            plan = plan_from_heads(heads, agents, rules, now, free=plan.free, nearest=nearest)
            nearest = False
            planning += time.perf_counter() - ranked_from
            if plan.decisions is not None or not plan.read_on:
                break
            to_read = list(plan.read_on)
            whole.update(to_read)  # short heads did not settle it: read on to the end
        return plan, planning

    async def _first_read(
        self, agents: list[Agent], opening: Opening, now: datetime
    ) -> tuple[dict[Line, Head], set[Line]]:
        """The first heads, in one round trip (none when those the pass's first read brought
        serve): of the lines the agents could serve (whole for those the last pass left
        free), and, for agents parked until now whose lines moved, those lines whole (to
        look at their new tasks); and the lines to read whole."""
        rules, found = opening.rules, opening.found
        suspects = self._parking.suspects(agents, rules, now)
        looked_at = self._parking.to_look_at(suspects, found, rules) if suspects else []
        looking = {agent.id for agent in suspects}
        others = [agent for agent in agents if agent.id not in looking]
        lines = lines_to_read(found, others, rules)
        whole = self._read_whole(lines, others, rules).union(looked_at)
        lengths = {
            line: WHOLE_LINE if line in whole else FIRST_HEAD_LENGTH
            for line in (*lines, *looked_at)
        }
        heads = opening.early_heads(lengths)
        heads.update(
            await self._lines.heads({ln: n for ln, n in lengths.items() if ln not in heads})
        )
        return heads, whole

    def _read_whole(
        self, lines: Sequence[Line], agents: Sequence[Agent], rules: RoutingRules
    ) -> set[Line]:
        """The lines to read whole at once: those the agents the last pass left free could
        serve (they are likely to find nothing at the heads again)."""
        waited = [agent for agent in agents if agent.id in self._left_free]
        return set(lines_to_read(lines, waited, rules)) if waited else set()

    async def _claim(
        self, call: Call, agent: Agent, decision: Decision, finish: Read[Finished] | None
    ) -> tuple[Agent | None, Finished | None]:
        """Offer `call` to `agent` (see `offer_claims`): the agent as stored after the
        offer, or None when the call or the agent changed since they were read; and what
        `finish` (the turn's finishing, sent with the claim) answered."""
        claimed = await self._claims.claim(call, agent, decision, finish)
        if claimed.outcome is Outcome.NOT_WAITING:
            # it left its lines after they were read (or its line was written without a
            # version): read every head afresh
            self._lines.forget()
        if claimed.outcome is not Outcome.OFFERED:
            self._dirty = True  # another instance (or event) changed it: try again
        return claimed.agent, claimed.then
