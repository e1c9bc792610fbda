"""What an agent may reach under an operation that grants it only its own things.

The route table says who may call each operation (see `web/authorization.py`); for an agent,
the operation's path then names what it acts on, and each kind of path value has one
ownership rule here. A path value of a kind without a rule is refused: a new operation that
grants agents their own things must say here what "own" means for it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from callcenter.domain.agents import Agent
from callcenter.domain.calls import Call
from callcenter.errors import Forbidden, NotFound
from callcenter.services.callers import normalised


class CallReader(Protocol):
    """The reads ownership needs (CallRepository has them)."""

    async def get(self, call_id: str) -> Call | None: ...

    async def get_agents(self, agent_ids: list[str]) -> dict[str, Agent]: ...

    async def call_of_reservation(self, reservation_id: str) -> str | None: ...


class AgentAccess:
    def __init__(self, calls: CallReader) -> None:
        self._calls = calls
        self._rules: dict[str, Callable[[str, str], Awaitable[None]]] = {
            "agent_id": self._itself,
            "call_id": self._its_call,
            "reservation_id": self._its_offer,
            "number": self._its_caller,
            "task_id": self._its_task,
        }

    async def check(self, agent_id: str, path: Mapping[str, str]) -> None:
        """Raise Forbidden (or NotFound) unless every path value is `agent_id`'s own."""
        for name, value in path.items():
            rule = self._rules.get(name)
            if rule is None:
                raise Forbidden(f"an agent may not act on a {name}")
            await rule(agent_id, value)

    async def _itself(self, agent_id: str, other: str) -> None:
        if other != agent_id:
            raise Forbidden("an agent may only act on itself")

    async def _its_call(self, agent_id: str, call_id: str) -> None:
        call = await self._calls.get(call_id)
        if call is None:
            raise NotFound("call", call_id)
        if call.agent_id != agent_id:
            raise Forbidden("an agent may only read its own calls")

    async def _its_task(self, agent_id: str, task_id: str) -> None:
        """A task offered to the agent, or that it works."""
        task = await self._calls.get(task_id)
        if task is None or task.conversation is None:
            raise NotFound("task", task_id)
        offered = task.reservation.agent_id if task.reservation else None
        if agent_id not in (task.agent_id, offered):
            raise Forbidden("an agent may only act on its own tasks")

    async def _its_offer(self, agent_id: str, reservation_id: str) -> None:
        call_id = await self._calls.call_of_reservation(reservation_id)
        if call_id is None:
            raise NotFound("reservation", reservation_id)
        call = await self._calls.get(call_id)
        reservation = None if call is None else call.reservation
        # an offer no longer pending is refused as such (409) by the answer itself
        if reservation is not None and reservation.id == reservation_id:
            if reservation.agent_id != agent_id:
                raise Forbidden("only the agent the call was offered to may answer")

    async def _its_caller(self, agent_id: str, number: str) -> None:
        """An agent may read a caller only while it holds (or is offered) that caller's call
        or one of that customer's conversations."""
        key = normalised(number)
        agent = (await self._calls.get_agents([agent_id])).get(agent_id)
        held = [] if agent is None else [agent.call_id, *agent.tasks]
        for call_id in held:
            call = await self._calls.get(call_id) if call_id else None
            if call is not None and call.caller_key == key:
                return
        raise Forbidden("an agent may only read the caller of its own call")
