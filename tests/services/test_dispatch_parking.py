"""Parked agents in the dispatcher, on a real Redis: a ready agent with nothing it may take
is left out of the passes that follow (`domain/parking`), and is offered a call as soon as
one it may take joins its line, its step widens, or the agent changes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from callcenter.domain import agents as agent_rules
from callcenter.domain.agents import Presence
from callcenter.domain.routing_rules import QueueConfig, RoutingRules, Rule, Step
from callcenter.metrics import Metrics
from callcenter.services.dispatch import Dispatcher
from callcenter.services.freed_agents import FreedAgents
from callcenter.services.notify import NoNotifier
from callcenter.services.rules_source import RulesSource
from callcenter.storage.agents import AgentRepository
from callcenter.storage.calls import CallRepository
from callcenter.storage.dispatch_turn import DispatchTurn
from callcenter.storage.documents import CommitResult, DocumentStore
from callcenter.storage.resp import RespClient
from tests.call_counts import count_round_trips
from tests.storage.test_calls import NOW, queued

RULES = RoutingRules(
    queues={"billing": QueueConfig(name="billing", skills=("billing",))},
    rules=(
        Rule(
            name="default",
            queue="billing",
            steps=(Step(after=0, require={"billing": 3}), Step(after=5)),
        ),
        Rule(name="easy", queue="billing"),
    ),
)


class Clock:
    def __init__(self) -> None:
        self.at = NOW

    def now(self) -> datetime:
        return self.at


class Desk:
    def __init__(
        self, resp: RespClient, rules: RoutingRules = RULES, freed: FreedAgents | None = None
    ) -> None:
        """`freed`: told of the desk's writes, and the dispatcher's hint (as the server
        wires it)."""
        store = DocumentStore(resp)
        self.clock = Clock()
        self.calls = CallRepository(
            store,
            retention=timedelta(days=1),
            dedupe_window=timedelta(hours=1),
            on_change=freed.calls_changed if freed else None,
        )
        self.agents = AgentRepository(store, on_change=freed.agent_changed if freed else None)
        self.dispatcher = Dispatcher(
            self.calls,
            self.agents,
            RulesSource(lambda: rules),
            turn=DispatchTurn(resp),
            clock=self.clock,
            metrics=Metrics(),
            notify=NoNotifier(),
            freed=freed,
        )

    async def ready_agent(self, level: int, skills: dict[str, int] | None = None) -> None:
        agent = agent_rules.new_agent("a1", "Ann", skills or {"billing": level}, NOW)
        ready = agent_rules.set_presence(agent, Presence.AVAILABLE, NOW)
        assert await self.agents.save(None, ready, NOW) is CommitResult.COMMITTED

    async def queue(self, call_id: str, rule: str = "default", **changes: object) -> None:
        call = queued(call_id, rule=rule, **changes)
        result, _ = await self.calls.commit(None, call, (), event_id=None, now=NOW)
        assert result is CommitResult.COMMITTED

    async def parked_after_passes(self) -> None:
        """Two passes: the first plans the agent and finds nothing; the second leaves it out."""
        assert await self.dispatcher.run_pass() == 0
        assert self.dispatcher.last_pass.planned == 1
        assert await self.dispatcher.run_pass() == 0
        assert (self.dispatcher.last_pass.agents, self.dispatcher.last_pass.planned) == (1, 0)

    async def offered_to_ann(self, call_id: str) -> bool:
        call = await self.calls.get(call_id)
        assert call is not None
        return call.reservation is not None and call.reservation.agent_id == "a1"


@pytest.fixture
async def desk(resp: RespClient) -> Desk:
    made = Desk(resp)
    await made.ready_agent(level=1)
    await made.queue("c1")
    return made


async def test_a_parked_agent_is_offered_a_call_it_may_take_once_one_joins(desk: Desk) -> None:
    await desk.parked_after_passes()
    await desk.queue("c2")  # not its to take either: a look at the line parks it again
    assert await desk.dispatcher.run_pass() == 0
    assert desk.dispatcher.last_pass.planned == 0
    await desk.queue("c3", rule="easy")
    assert await desk.dispatcher.run_pass() == 1
    assert await desk.offered_to_ann("c3")


async def test_a_parked_agent_looks_at_a_call_that_joined_without_reading_its_line(
    desk: Desk, resp: RespClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The call that joined comes with the pass's first read (kept with the line's change
    count): a pass that parks the agent again is that read alone."""
    await desk.parked_after_passes()
    await desk.queue("c2")
    trips = count_round_trips(resp, monkeypatch)
    assert await desk.dispatcher.run_pass() == 0
    assert desk.dispatcher.last_pass.planned == 0 and trips == [1]
    await desk.queue("c3")
    await desk.queue("c4", rule="easy")  # two joined: the line is read, and c4 offered
    assert await desk.dispatcher.run_pass() == 1
    assert await desk.offered_to_ann("c4")


async def test_a_parked_agent_is_offered_the_call_when_its_step_widens(desk: Desk) -> None:
    await desk.parked_after_passes()
    desk.clock.at = NOW + timedelta(seconds=4.9)
    assert await desk.dispatcher.run_pass() == 0
    assert desk.dispatcher.last_pass.planned == 0
    desk.clock.at = NOW + timedelta(seconds=5)
    assert await desk.dispatcher.run_pass() == 1
    assert await desk.offered_to_ann("c1")


async def test_a_parked_agent_whose_skills_change_is_planned_again(desk: Desk) -> None:
    await desk.parked_after_passes()
    agent = await desk.agents.get("a1")
    assert agent is not None
    raised = agent_rules.update_profile(agent, "Ann", {"billing": 3})
    assert await desk.agents.save(agent, raised, NOW) is CommitResult.COMMITTED
    assert await desk.dispatcher.run_pass() == 1
    assert await desk.offered_to_ann("c1")
