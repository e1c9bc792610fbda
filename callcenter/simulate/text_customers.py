"""Text customers: each opens a conversation through `POST /v1/tasks` with a gateway token
(as a chat widget, an SMS or a mail gateway would), writes the rest of its messages over
time, and leaves (closes it unanswered: abandoned) if no agent accepted within its
patience; otherwise it stays until the agent resolves it. When the run stops, every
conversation still open is closed by its customer, so the summary stays consistent."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from callcenter.errors import CallcenterError
from callcenter.simulate.api import ServerApi, ServerRefused, ServerUnreachable
from callcenter.simulate.callback_calls import FOREVER, Pause
from callcenter.simulate.conversations import Conversations
from callcenter.simulate.ledger import Ledger, TextRecord
from callcenter.simulate.scenario import Scenario
from callcenter.simulate.text_traffic import plan_texts

logger = logging.getLogger(__name__)

GONE = (404, 409)  # the conversation is over already


class TextCustomers:
    def __init__(
        self,
        scenario: Scenario,
        ledger: Ledger,
        api: ServerApi,
        conversations: Conversations,
        *,
        token: str,
        clock: Callable[[], float],
        pause: Pause,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        fatal: Callable[[CallcenterError], None],
    ) -> None:
        """`token` is a gateway's; `pause` is the run's stop-aware wait; `spawn` owns a
        customer's task (the run drains them as it drains calls); `fatal` stops the run
        when the server is gone or refuses the token."""
        self._scenario = scenario
        self._ledger = ledger
        self._api = api
        self._line = conversations
        self._token = token
        self._clock = clock
        self._pause = pause
        self._spawn = spawn
        self._fatal = fatal

    async def place(self) -> None:
        """Open the planned conversations at their times, until the plan ends or the run
        stops."""
        for plan in plan_texts(self._scenario):
            if not await self._pause(plan.at_seconds - self._clock()):
                return
            self._spawn(self._customer(self._ledger.add_text(plan)))

    async def _customer(self, record: TextRecord) -> None:
        try:
            await self._open(record)
            await self._converse(record)
        except (ServerRefused, ServerUnreachable) as error:
            if isinstance(error, ServerUnreachable) or error.status in (401, 403):
                self._fatal(error)
            else:
                self._ledger.failures.append(f"{record.task_id or record.plan.key}: {error}")

    async def _open(self, record: TextRecord) -> None:
        plan = record.plan
        body: dict[str, Any] = {
            "channel": plan.channel,
            "from": plan.customer,
            "queue": plan.queue,
            "name": plan.name,
            "body": plan.messages[0],
        }
        if plan.channel == "email":
            body["subject"] = f"A question from {plan.name}"
        record.opened_at = self._clock()
        _, created = await self._api.request(
            "POST",
            "/v1/tasks",
            json=body,
            token=self._token,
            ok=(201,),
            what=f"{plan.key}: opening the conversation",
        )
        task_id = str(created["task_id"])
        record.customer_messages.append(record.opened_at)
        self._ledger.text_opened(record, task_id)
        self._line.pulse(task_id)

    async def _converse(self, record: TextRecord) -> None:
        """Write the planned messages, then wait for the end; leave on the way out of
        patience or when the run stops."""
        plan = record.plan
        assert record.opened_at is not None
        patience = plan.patience_seconds
        deadline = FOREVER if patience is None else record.opened_at + patience
        for gap, text in zip(plan.gaps, plan.messages[1:], strict=True):
            if not await self._wait(record, self._clock() + gap, deadline):
                return
            if not await self._write(record, text):
                return
        await self._wait(record, FOREVER, deadline)

    async def _wait(self, record: TextRecord, until: float, deadline: float) -> bool:
        """Until `until` (True), or until it is over (False): resolved by its agent, or
        left by the customer, out of patience while nobody had accepted, or at the stop."""
        assert record.task_id is not None
        while record.closed_at is None:
            waiting = record.accepted_by is None
            end = min(until, deadline) if waiting else until
            now = self._clock()
            if now >= end:
                if waiting and now >= deadline:
                    await self._leave(record)
                    return False
                return True
            if not await self._pause(end - now, self._line.event(record.task_id)):
                record.left_at_stop = True
                await self._leave(record)
                return False
        return False

    async def _write(self, record: TextRecord, text: str) -> bool:
        assert record.task_id is not None
        status, _ = await self._api.request(
            "POST",
            f"/v1/tasks/{record.task_id}/messages",
            json={"body": text},
            token=self._token,
            ok=(201, *GONE),
            what=f"{record.task_id}: the customer writing",
        )
        if status != 201:
            record.late_messages += 1
            self._ledger.notes["customers who wrote after their conversation was over"] += 1
            return False
        record.customer_messages.append(self._clock())
        self._line.pulse(record.task_id)
        return True

    async def _leave(self, record: TextRecord) -> None:
        """Close the conversation as the customer: abandoned unless an agent had accepted
        it (then handled: the run stopped while it was being worked)."""
        task_id = record.task_id
        assert task_id is not None
        record.leaving_at = self._clock()
        self._ledger.holdings.releasing(task_id, record.leaving_at)
        status, _ = await self._api.request(
            "POST",
            f"/v1/tasks/{task_id}/resolve",
            json={},
            token=self._token,
            ok=(200, *GONE),
            what=f"{task_id}: the customer leaving",
        )
        if status == 200 and record.closed_at is None:
            record.closed_at = self._clock()
            record.closed_by = "customer"
        self._ledger.holdings.released(task_id, self._clock())
        self._line.pulse(task_id)
