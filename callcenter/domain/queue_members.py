"""Which of a pass's agents serve each queue: an agent is in a queue when it has every skill
the queue names."""

from __future__ import annotations

from collections.abc import Sequence

from callcenter.domain.agents import Agent
from callcenter.domain.routing_rules import QueueConfig, RoutingRules


def serves(agent: Agent, queue: QueueConfig) -> bool:
    """An agent is in a queue when it has every skill the queue names."""
    return queue.served_by(agent.skills)


class QueueMembers:
    """The members of each queue among a set of agents, worked out once per queue and pass.
    Only the agents with a queue's first skill are looked at, so a pass over many queues
    does not test every agent against every queue."""

    def __init__(self, agents: Sequence[Agent], rules: RoutingRules) -> None:
        self._agents = agents
        self._rules = rules
        self._members: dict[str, list[str]] = {}
        self._with_skill: dict[str, list[Agent]] | None = None

    def _of(self, queue: str) -> list[str]:
        found = self._members.get(queue)
        if found is None:
            config = self._rules.queue(queue)
            if not config.skills:
                found = [agent.id for agent in self._agents]
            else:
                having = self._having(config.skills[0])
                found = [agent.id for agent in having if serves(agent, config)]
            self._members[queue] = found
        return found

    def _having(self, skill: str) -> list[Agent]:
        """The agents with `skill`, in the order given (indexed on first use)."""
        if self._with_skill is None:
            self._with_skill = {}
            for agent in self._agents:
                for name in agent.skills:
                    self._with_skill.setdefault(name, []).append(agent)
        return self._with_skill.get(skill, [])

    def has_members(self, queue: str) -> bool:
        return bool(self._of(queue))

    def of(self, queue: str, also: tuple[str, ...]) -> list[str]:
        if not also:
            return self._of(queue)
        return list(dict.fromkeys([*self._of(queue), *(a for q in also for a in self._of(q))]))
