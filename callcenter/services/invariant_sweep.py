"""The invariant sweep: every period, the one instance whose turn it is (a lease in Redis)
reads every agent, every offered call and the timers nobody took, judges them
(domain.invariants) and repairs what does not hold, counting each repair in
`callcenter_invariant_repairs_total{kind}`:

- an agent reserved for a call that is not offered to it: freed;
- a text task an agent holds that is neither offered to it nor worked by it: let go;
- a call offered past its reservation's expiry: the offer expires (as its timer would);
- a timer due for longer than a lease and not taken: the timer loop's work is done here;
- a waiting call missing from its waiting lines (routing reads those, not every waiting
  call, so it would wait unseen): put back; a line member that is not waiting there:
  taken out (domain.line_check).

It should never find anything: a repair means a crash or a bug got there first, which
the alert on the counter tells the operator."""

from __future__ import annotations

import asyncio
import logging
import secrets

from callcenter.domain import invariants
from callcenter.domain.agents import Agent
from callcenter.domain.calls import Call, CallState
from callcenter.domain.invariants import Finding, FindingKind
from callcenter.domain.line_check import line_findings
from callcenter.errors import StorageUnavailable
from callcenter.metrics import Metrics
from callcenter.services.clock import Clock
from callcenter.services.optimistic import Retry, with_retries
from callcenter.services.routing import RoutingService
from callcenter.services.timer_loop import TimerLoop
from callcenter.storage.agents import AgentRepository
from callcenter.storage.calls import CallRepository
from callcenter.storage.documents import CommitResult
from callcenter.storage.timers import TimerRepository
from callcenter.storage.waiting_lines import WaitingLinesRepository

logger = logging.getLogger(__name__)

SWEEP_SECONDS = 30.0
OFFERED_READ = 10_000  # offered calls read per sweep (each holds an agent: ample)


class InvariantSweep:
    def __init__(
        self,
        agents: AgentRepository,
        calls: CallRepository,
        timers: TimerRepository,
        routing: RoutingService,
        timer_loop: TimerLoop,
        *,
        lines: WaitingLinesRepository | None = None,
        clock: Clock,
        metrics: Metrics,
        every_seconds: float = SWEEP_SECONDS,
    ) -> None:
        self._agents = agents
        self._calls = calls
        self._timers = timers
        self._routing = routing
        self._timer_loop = timer_loop
        self._lines = lines
        self._clock = clock
        self._metrics = metrics
        self._every = every_seconds
        self._instance = secrets.token_hex(8)

    async def run(self) -> None:
        """Sweep when it is this instance's turn, every period, until cancelled."""
        while True:
            await asyncio.sleep(self._every)
            try:
                if await self._timers.take_sweep_turn(self._instance, self._every):
                    await self.sweep()
            except StorageUnavailable as error:
                logger.warning("invariant sweep skipped: %s", error)
            except Exception:
                # task boundary: a bug here must not stop the next sweep
                logger.exception("invariant sweep failed")
                self._metrics.task_errors_total.labels("invariant_sweep").inc()

    async def sweep(self) -> list[Finding]:
        """Look once, repair what does not hold; the findings repaired."""
        now = self._clock.now()
        agents = await self._agents.all()
        calls = await self._named_calls(agents)
        overdue = await self._timers.overdue(now - invariants.GRACE)
        repaired = []
        for finding in invariants.findings(agents, calls, overdue, now):
            if await self._repair(finding):
                self._metrics.invariant_repairs_total.labels(str(finding.kind)).inc()
                logger.warning(
                    "invariant repaired: %s %s %s", finding.kind, finding.subject, finding.ref
                )
                repaired.append(finding)
        await self._check_lines()
        await self._check_skills(agents)
        return repaired

    async def _check_skills(self, agents: list[Agent]) -> None:
        """Every agent in the sets of its skills (one an older version wrote may be
        missing); the members put back counted as `skill_set_missing`."""
        added = await self._agents.place_in_skills(agents)
        if added:
            self._metrics.invariant_repairs_total.labels("skill_set_missing").inc(added)
            logger.warning("invariant repaired: skill_set_missing x%d", added)

    async def _check_lines(self) -> None:
        """The waiting lines against the tickets; repairs counted as
        `waiting_line_missing` (members put back) and `waiting_line_stale` (taken out)."""
        if self._lines is None:
            return
        snapshot = await self._lines.snapshot()
        found = line_findings(snapshot.tickets, snapshot.members, snapshot.arrivals)
        if not found:
            return
        added, removed = await self._lines.repair(snapshot, found)
        for kind, count in (("waiting_line_missing", added), ("waiting_line_stale", removed)):
            if count:
                self._metrics.invariant_repairs_total.labels(kind).inc(count)
                logger.warning("invariant repaired: %s x%d", kind, count)
        if added:
            self._routing.request_dispatch()  # the calls put back may be offered now

    async def _named_calls(self, agents: list[Agent]) -> dict[str, Call | None]:
        """Every offered call, and every call an agent names (None: gone)."""
        offered = await self._calls.recent(CallState.OFFERED, OFFERED_READ)
        found: dict[str, Call | None] = {call.id: call for call in offered}
        named = {a.call_id for a in agents if a.call_id} | {t for a in agents for t in a.tasks}
        missing = sorted(named - set(found))
        for call_id, call in zip(missing, await self._calls.get_many(missing), strict=True):
            found[call_id] = call
        return found

    async def _repair(self, finding: Finding) -> bool:
        if finding.kind is FindingKind.OFFER_PAST_EXPIRY:
            return await self._routing.expire_offer(finding.subject, finding.ref)
        if finding.kind is FindingKind.TIMER_OVERDUE:
            return await self._timer_loop.fire_due() > 0
        return await self._free_agent(finding)

    async def _free_agent(self, finding: Finding) -> bool:
        """Judge the agent again on what is stored now; free it if it still holds what
        it should not."""

        async def attempt() -> bool:
            agent = await self._agents.get(finding.subject)
            if agent is None:
                return False
            call = (await self._calls.get_many([finding.ref]))[0] if finding.ref else None
            now = self._clock.now()
            if finding not in invariants.agent_findings(agent, {finding.ref: call}, now):
                return False  # settled meanwhile
            result = await self._agents.save(agent, invariants.repaired(agent, finding, now), now)
            if result is not CommitResult.COMMITTED:
                raise Retry
            return True

        freed = await with_retries("agent", finding.subject, attempt)
        if freed:
            self._routing.request_dispatch()  # the agent may take work again
        return freed
