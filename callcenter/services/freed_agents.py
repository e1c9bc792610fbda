"""The agents this instance's commits made ready (or gave room for another text task), as
the dispatcher's hint: its pass reads the heads of their lines together with the ready
agents, instead of one round trip later (see `Dispatcher.run_pass`). Agents on a call with
room for a text task (`ready_on_voice`) are not hinted: most queues do not offer them
text, and their passes read their lines as ever.

A hint is only a guess at what the pass will read: an agent taken by another instance
since, or one freed on another instance, costs at most a read of heads nobody uses, or
the round trip the hint would have spared."""

from __future__ import annotations

from collections.abc import Sequence

from callcenter.domain.agents import Agent
from callcenter.domain.calls import Call
from callcenter.domain.capacity import readied, ready

FREED_KEPT = 8  # the newest kept: more freed at once is a burst, read in the pass as ever


class FreedAgents:
    """A change listener (see repositories.ChangeListener) keeping the agents freed since
    the dispatcher last took them."""

    def __init__(self) -> None:
        self._freed: dict[str, Agent] = {}

    def calls_changed(
        self,
        calls: Sequence[tuple[Call | None, Call]],
        agents: Sequence[tuple[Agent | None, Agent]],
    ) -> None:
        for before, after in agents:
            self.agent_changed(before, after)

    def agent_changed(self, before: Agent | None, after: Agent | None) -> None:
        if after is None:
            self._freed.pop(before.id if before else "", None)
        elif readied(before, after, ready):
            self._freed.pop(after.id, None)  # newest last
            self._freed[after.id] = after
            if len(self._freed) > FREED_KEPT:
                del self._freed[next(iter(self._freed))]
        elif after.id in self._freed and not ready(after):
            self._freed.pop(after.id, None)  # taken again before a pass

    def take(self) -> list[Agent]:
        """The agents freed since the last take, as they were then, oldest first."""
        taken = list(self._freed.values())
        self._freed.clear()
        return taken
