"""What every text task change shares: read the task, commit it with its conversation
write, build a checked customer message (scored), and announce messages on the bus."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Protocol

from callcenter.domain import tasks as task_rules
from callcenter.domain.agents import Agent
from callcenter.domain.calls import Call
from callcenter.domain.messages import Author, InboundMessage, Message, OutboundMessage
from callcenter.errors import NotFound
from callcenter.metrics import Metrics
from callcenter.services.bus import EventBus
from callcenter.services.clock import Clock
from callcenter.services.live_events import TaskMessage
from callcenter.services.optimistic import Retry
from callcenter.storage.calls import CallRepository
from callcenter.storage.conversations import ConversationWrite
from callcenter.storage.documents import CommitResult


class ReplySender(Protocol):
    """A channel's way out (Twilio Messages for SMS, an SMTP relay for email)."""

    async def send(self, message: OutboundMessage) -> str:
        """Send; return the channel's id of the sent message. Raises ReplyNotSent."""
        ...


class ConversationWatcher(Protocol):
    """Who listens to what customers write (sentiment, mood and alert rules)."""

    def score(self, text: str) -> tuple[float, str]:
        """The sentiment of one message: its score, -1..1, and label (positive, neutral
        or negative)."""
        ...

    async def customer_wrote(self, task: Call, message: Message) -> None: ...


class TaskWrites:
    def __init__(
        self,
        calls: CallRepository,
        bus: EventBus,
        *,
        watcher: ConversationWatcher,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self.calls = calls
        self.clock = clock
        self.metrics = metrics
        self._bus = bus
        self._watcher = watcher

    async def get(self, task_id: str) -> Call:
        """The task; raises NotFound (also for a voice call's id)."""
        task = await self.calls.get(task_id)
        if task is None or task.conversation is None:
            raise NotFound("task", task_id)
        return task

    def customer_message(
        self, task: Call, body: str, at: datetime, *, inbound: InboundMessage | None = None
    ) -> Message:
        checked = task_rules.check_text(body)
        return task_rules.message(
            "m-" + secrets.token_hex(8),
            task,
            author=Author.CUSTOMER,
            body=checked,
            at=at,
            subject=inbound.subject if inbound else None,
            external_id=inbound.external_id if inbound else None,
            sentiment=self._watcher.score(checked),
        )

    async def after_customer(self, task: Call, message: Message) -> None:
        self.metrics.task_messages_total.labels(str(task.channel), "customer").inc()
        await self.publish(task, message)
        await self._watcher.customer_wrote(task, message)

    async def publish(self, task: Call, message: Message) -> None:
        await self._bus.publish(
            TaskMessage(
                data=message,
                call_id=task.id,
                agent_id=task_rules.holder_id(task),
                queue=task.queue,
            )
        )

    async def store(
        self,
        old: Call,
        new: Call,
        write: ConversationWrite | None,
        agents: tuple[tuple[Agent, Agent], ...] = (),
    ) -> bool:
        """Commit; False when the write's message was taken before (a redelivery)."""
        result, _ = await self.calls.commit(
            old, new, agents, event_id=None, now=self.clock.now(), conversation=write
        )
        if result is CommitResult.DUPLICATE:
            return False
        if result is not CommitResult.COMMITTED:
            raise Retry
        return True
