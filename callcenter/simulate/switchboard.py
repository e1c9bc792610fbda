"""Who is connected to whom, as the gateway sees it: a caller is connected to an agent
when the server's <Dial> names the agent (Twilio) or the agent's accept went through
(generic). Catches what must never happen: a caller connected to two agents, or to an
agent still talking on another call."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from callcenter.simulate.ledger import Ledger, Outcome


class Switchboard:
    def __init__(self, ledger: Ledger, *, clock: Callable[[], float]) -> None:
        self._ledger = ledger
        self._clock = clock
        self._connected: dict[str, asyncio.Event] = {}
        self._agent_calls: dict[str, str] = {}  # agent -> the call last connected to it

    def expect(self, call_id: str) -> asyncio.Event:
        """The event set when `call_id` is connected."""
        event = self._connected[call_id] = asyncio.Event()
        return event

    def connect(self, call_id: str, agent_id: str) -> None:
        """Connect the caller to `agent_id`; a repeated connect is noted, a conflicting one
        is a routing error."""
        ledger = self._ledger
        record = ledger.record(call_id)
        if record is None:
            return
        if record.dialed_agent is not None:
            if record.dialed_agent != agent_id:
                ledger.routing_error(
                    f"{call_id}: connected to {agent_id} while already with {record.dialed_agent}"
                )
            else:
                ledger.notes["repeated call updates"] += 1
            return
        holder = self._agent_calls.get(agent_id)
        held = ledger.record(holder) if holder else None
        if held is not None and held.hung_up_at is None:
            ledger.routing_error(
                f"{call_id}: connected to {agent_id}, who is still talking on {holder}"
            )
        self._agent_calls[agent_id] = call_id
        record.dialed_agent = agent_id
        if record.hung_up_at is not None:
            # the agent answered as the caller hung up: the server had connected first
            record.outcome = Outcome.SERVED
            ledger.notes["answered as the caller hung up"] += 1
            return
        record.connected_at = self._clock()
        event = self._connected.pop(call_id, None)
        if event is not None:
            event.set()
