"""An agent bot's text tasks, as many at once as the server offers it: each offer is
accepted after the plan's think time; a chat gets the planned replies (each after the
customer's message it answers, after typing); the task is resolved with a disposition once
the agent's handle time has passed. SMS and email get no reply: a simulated run configures
no SMS or mail sender on the server (a reply there would be refused with 502), so the
agent works them silently. Every offer and release goes into the ledger's holdings."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime

from callcenter.simulate.api import GONE, ServerApi
from callcenter.simulate.conversations import Conversations
from callcenter.simulate.holdings import Span
from callcenter.simulate.ledger import Ledger, TextRecord

# an offer may reach the agent before the server's answer reaches the customer who opened it
RECORD_WAIT_SECONDS = 5.0


def our_time(clock: Callable[[], float], value: object) -> float | None:
    """A server time (RFC 3339) on the run's clock; None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    return clock() - (time.time() - at)


class TextWork:
    def __init__(
        self,
        agent_id: str,
        token: str,
        api: ServerApi,
        ledger: Ledger,
        *,
        conversations: Conversations,
        clock: Callable[[], float],
    ) -> None:
        self._agent = agent_id
        self._line = conversations
        self._token = token
        self._api = api
        self._ledger = ledger
        self._clock = clock
        self._handling: set[str] = set()

    async def offer(
        self, task_id: str, reservation: str, channel: str, queue: str, offered_at: float
    ) -> None:
        """Take up one offer: accept it, work it, resolve it (or learn it is gone)."""
        if task_id in self._handling:
            return  # the same offer again (a snapshot after a reconnect)
        self._handling.add(task_id)
        try:
            record = await self._record(task_id)
            if record is None:
                self._ledger.notes["offers of tasks this run did not open"] += 1
                return
            record.offers.append((offered_at, self._agent))
            self._ledger.holdings.hold(self._agent, Span(task_id, channel, queue, offered_at))
            await asyncio.sleep(record.plan.think_seconds)
            if await self._accept(record, task_id, reservation):
                await self._work(record, task_id)
        finally:
            self._handling.discard(task_id)

    async def resume(self, task_id: str) -> None:
        """A task the agent's document lists that the bot is not working: an offer made
        while its socket was down, taken up now if it still stands."""
        if task_id in self._handling:
            return
        status, view = await self._api.request(
            "GET", f"/v1/tasks/{task_id}", token=self._token, ok=(200, 403, *GONE)
        )
        task = ((view or {}).get("task") or {}) if status == 200 else {}
        reservation = task.get("reservation") or {}
        if task.get("state") != "offered" or reservation.get("agent_id") != self._agent:
            return
        offered_at = our_time(self._clock, reservation.get("offered_at")) or self._clock()
        channel, queue = str(task.get("channel")), str(task.get("queue"))
        await self.offer(task_id, str(reservation.get("id")), channel, queue, offered_at)

    async def _record(self, task_id: str) -> TextRecord | None:
        deadline = self._clock() + RECORD_WAIT_SECONDS
        await self._line.until(task_id, lambda: self._ledger.text(task_id) is not None, deadline)
        return self._ledger.text(task_id)

    async def _accept(self, record: TextRecord, task_id: str, reservation: str) -> bool:
        what = f"agent {self._agent} accepting {task_id}"
        if not await self._api.accept_offer(reservation, token=self._token, what=what):
            self._ledger.holdings.lost(task_id, self._clock())
            self._ledger.notes["text offers gone before the agent accepted"] += 1
            return False
        record.accepted_by = self._agent
        record.accepted_at = self._clock()
        self._line.pulse(task_id)
        return True

    async def _work(self, record: TextRecord, task_id: str) -> None:
        assert record.accepted_at is not None
        deadline = record.accepted_at + record.plan.handle_seconds
        for index, text in enumerate(record.plan.replies):
            if not await self._reply(record, task_id, index, text, deadline):
                break
        await self._line.until(task_id, lambda: record.closed_at is not None, deadline)
        await self._resolve(record, task_id)

    async def _reply(
        self, record: TextRecord, task_id: str, index: int, text: str, deadline: float
    ) -> bool:
        """The reply to the customer's message `index` (or their last): False when the
        conversation is over or the handle time is up first."""
        wanted = min(index + 1, len(record.plan.messages))

        def written() -> bool:
            return len(record.customer_messages) >= wanted or record.closed_at is not None

        # the first reply answers the opening message, there since the task has an id
        if not await self._line.until(task_id, written, deadline):
            return False
        if record.closed_at is not None:
            return False
        await asyncio.sleep(record.plan.reply_seconds)
        status, _ = await self._api.request(
            "POST",
            f"/v1/tasks/{task_id}/messages",
            json={"body": text},
            token=self._token,
            ok=(201, *GONE),
            what=f"agent {self._agent} replying in {task_id}",
        )
        if status != 201:
            self._ledger.notes["replies to conversations already over"] += 1
            return False
        record.replies.append(self._clock())
        self._line.pulse(task_id)
        return True

    async def _resolve(self, record: TextRecord, task_id: str) -> None:
        if record.closed_at is None:
            self._ledger.holdings.releasing(task_id, self._clock())
            angry = record.plan.mood == "angry"
            status, _ = await self._api.request(
                "POST",
                f"/v1/tasks/{task_id}/resolve",
                json={
                    "disposition": "escalated" if angry else "resolved",
                    "notes": f"simulated {record.plan.channel}",
                },
                token=self._token,
                ok=(200, *GONE),
                what=f"agent {self._agent} resolving {task_id}",
            )
            if status != 200:
                self._ledger.notes["text tasks the customer closed before the agent"] += 1
            elif record.closed_at is None:
                record.closed_at = self._clock()
                record.closed_by = "agent"
        self._ledger.holdings.released(task_id, self._clock())
        self._line.pulse(task_id)
