"""Text customers: a chat customer opens its chat in a chat window (the widget's session
and socket), an SMS or email customer arrives through `POST /v1/tasks` with a gateway token
(as its gateway would post it). Each writes the rest of its messages over time, and leaves
(closes it unanswered: abandoned) if no agent accepted within its patience; otherwise it
stays until the agent resolves it. When the run stops, every conversation still open is
closed by its customer, so the summary stays consistent."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from callcenter.errors import CallcenterError
from callcenter.simulate.api import GONE, ServerApi, ServerRefused, ServerUnreachable
from callcenter.simulate.callback_calls import FOREVER, Pause
from callcenter.simulate.chat_window import ChatWindow
from callcenter.simulate.conversations import Conversations
from callcenter.simulate.ledger import Ledger, TextRecord
from callcenter.simulate.scenario import Scenario
from callcenter.simulate.text_traffic import plan_texts

logger = logging.getLogger(__name__)


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
        way = self._way(record)
        try:
            await self._open(record, way)
            await self._converse(record, way)
        except (ServerRefused, ServerUnreachable) as error:
            if isinstance(error, ServerUnreachable) or error.status in (401, 403):
                self._fatal(error)
            else:
                self._ledger.failures.append(f"{record.task_id or record.plan.key}: {error}")
        finally:
            await way.close()
            self._check_window(record, way)

    def _way(self, record: TextRecord) -> Way:
        """A chat customer uses the chat window; an SMS or email arrives as its gateway
        posts it (the tasks API with a gateway token)."""

        def changed() -> None:
            if record.task_id is not None:
                self._line.pulse(record.task_id)

        if record.plan.channel == "chat":
            window = ChatWindow(self._api, clock=self._clock, changed=changed)
            record.replies_seen = window.replies_seen
            return window
        return TaskThroughApi(self._api, self._token)

    def _check_window(self, record: TextRecord, way: Way) -> None:
        """A chat's window, told of the end, must have shown every reply before it."""
        if isinstance(way, ChatWindow) and way.saw_end:
            missed = len(record.replies) - len(record.replies_seen)
            if missed > 0:
                self._ledger.failures.append(
                    f"{record.task_id}: {missed} of the agent's replies never reached the "
                    "customer's chat window"
                )

    async def _open(self, record: TextRecord, way: Way) -> None:
        plan = record.plan
        record.opened_at = self._clock()
        if plan.channel == "chat":
            task_id = await way.open(
                {
                    "phone": plan.customer,
                    "name": plan.name,
                    "queue": plan.queue,
                    "message": plan.messages[0],
                }
            )
        else:
            subject = {"subject": f"A question from {plan.name}"} if plan.channel == "email" else {}
            task_id = await way.open(
                {
                    "channel": plan.channel,
                    "from": plan.customer,
                    "queue": plan.queue,
                    "name": plan.name,
                    "body": plan.messages[0],
                    **subject,
                }
            )
        record.customer_messages.append(record.opened_at)
        self._ledger.text_opened(record, task_id)
        self._line.pulse(task_id)

    async def _converse(self, record: TextRecord, way: Way) -> None:
        """Write the planned messages, then wait for the end; leave on the way out of
        patience or when the run stops."""
        plan = record.plan
        assert record.opened_at is not None
        patience = plan.patience_seconds
        deadline = FOREVER if patience is None else record.opened_at + patience
        for gap, text in zip(plan.gaps, plan.messages[1:], strict=True):
            if not await self._wait(record, way, self._clock() + gap, deadline):
                return
            if not await self._write(record, way, text):
                return
        await self._wait(record, way, FOREVER, deadline)

    async def _wait(self, record: TextRecord, way: Way, until: float, deadline: float) -> bool:
        """Until `until` (True), or until it is over (False): resolved by its agent, or
        left by the customer, out of patience while nobody had accepted, or at the stop."""
        assert record.task_id is not None
        while record.closed_at is None:
            waiting = record.accepted_by is None
            end = min(until, deadline) if waiting else until
            now = self._clock()
            if now >= end:
                if waiting and now >= deadline:
                    await self._leave(record, way)
                    return False
                return True
            if not await self._pause(end - now, self._line.event(record.task_id)):
                record.left_at_stop = True
                await self._leave(record, way)
                return False
        return False

    async def _write(self, record: TextRecord, way: Way, text: str) -> bool:
        assert record.task_id is not None
        if await way.write(text) is not None:
            record.late_messages += 1
            self._ledger.notes["customers who wrote after their conversation was over"] += 1
            return False
        record.customer_messages.append(self._clock())
        self._line.pulse(record.task_id)
        return True

    async def _leave(self, record: TextRecord, way: Way) -> None:
        """Close the conversation as the customer: abandoned unless an agent had accepted
        it (then handled: the run stopped while it was being worked)."""
        task_id = record.task_id
        assert task_id is not None
        record.leaving_at = self._clock()
        self._ledger.holdings.releasing(task_id, record.leaving_at)
        if await way.leave() and record.closed_at is None:
            record.closed_at = self._clock()
            record.closed_by = "customer"
        self._ledger.holdings.released(task_id, self._clock())
        self._line.pulse(task_id)


class Way(Protocol):
    """How a customer's messages reach the server."""

    async def open(self, fields: dict[str, Any]) -> str:
        """Open the conversation; its task id."""

    async def write(self, body: str) -> str | None:
        """None once the message was taken, else why not (the conversation is over)."""

    async def leave(self) -> bool:
        """Close the conversation; True if this closed it (False: it was over)."""

    async def close(self) -> None:
        """Let go of whatever the way holds."""


class TaskThroughApi:
    """As an SMS or mail gateway: the tasks API with a gateway token."""

    def __init__(self, api: ServerApi, token: str) -> None:
        self._api = api
        self._token = token
        self._task_id = ""

    async def open(self, fields: dict[str, Any]) -> str:
        _, created = await self._api.request(
            "POST",
            "/v1/tasks",
            json=fields,
            token=self._token,
            ok=(201,),
            what=f"{fields['channel']}: opening the conversation",
        )
        self._task_id = str(created["task_id"])
        return self._task_id

    async def write(self, body: str) -> str | None:
        status, _ = await self._api.request(
            "POST",
            f"/v1/tasks/{self._task_id}/messages",
            json={"body": body},
            token=self._token,
            ok=(201, *GONE),
            what=f"{self._task_id}: the customer writing",
        )
        return None if status == 201 else "the conversation is over"

    async def leave(self) -> bool:
        status, _ = await self._api.request(
            "POST",
            f"/v1/tasks/{self._task_id}/resolve",
            json={},
            token=self._token,
            ok=(200, *GONE),
            what=f"{self._task_id}: the customer leaving",
        )
        return status == 200

    async def close(self) -> None:
        pass
