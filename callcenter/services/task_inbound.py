"""Inbound SMS and email: a message from a channel adapter joins the customer's open
conversation (an email's thread, or the customer's open conversation on that channel) or
opens a new task. A message the channel delivers again (same MessageSid / Message-ID) is
taken once."""

from __future__ import annotations

import secrets

from callcenter.domain import tasks as task_rules
from callcenter.domain.callers import caller_key
from callcenter.domain.calls import Call
from callcenter.domain.messages import Channel, InboundMessage, Message
from callcenter.services.callers import CallerService
from callcenter.services.optimistic import Retry, with_retries
from callcenter.services.routing import RoutingService
from callcenter.services.task_writes import TaskWrites
from callcenter.services.tasks import TaskService
from callcenter.storage.conversations import ConversationStore, ConversationWrite
from callcenter.storage.documents import CommitResult
from callcenter.storage.keys import open_task


class InboundConversations:
    def __init__(
        self,
        writes: TaskWrites,
        conversations: ConversationStore,
        routing: RoutingService,
        callers: CallerService,
        tasks: TaskService,
        *,
        default_queue: str,
    ) -> None:
        self._writes = writes
        self._callers = callers
        self._tasks = tasks
        self._conversations = conversations
        self._routing = routing
        self._default_queue = default_queue

    async def receive(self, inbound: InboundMessage, *, dialect: str) -> tuple[Call, bool]:
        """A message from a channel adapter: added to the customer's open conversation
        (an email's thread, or the customer's open SMS conversation), else a new task.
        True when the channel had delivered it before (nothing changes then)."""

        async def attempt() -> tuple[Call, Message | None]:
            task = await self._open_task(inbound)
            if task is not None and self._quiet(task):
                await self._tasks.resolve(task.id, agent_id=None, reason="idle")
                task = None
            if task is None:
                return await self._open_new(inbound, dialect)
            message = self._writes.customer_message(
                task, inbound.body, self._writes.clock.now(), inbound=inbound
            )
            changed = task_rules.from_customer(task, message, _thread_ids(inbound))
            write = ConversationWrite(
                messages=(message,),
                thread_ids=_thread_ids(inbound),
                seen=(str(inbound.channel), inbound.external_id),
            )
            if not await self._writes.store(task, changed, write):
                return task, None
            return changed, message

        task, added = await with_retries("task", inbound.sender, attempt)
        if added is None:
            return task, True
        await self._writes.after_customer(task, added)
        return task, False

    def _quiet(self, task: Call) -> bool:
        """Quiet past its queue's `conversation_idle_seconds`: over."""
        idle = self._routing.rules.current.queue(task.queue).conversation_idle_seconds
        return task_rules.quiet_for(task, self._writes.clock.now()) >= idle

    async def _open_task(self, inbound: InboundMessage) -> Call | None:
        """The open conversation an inbound message belongs to, if any."""
        task_id = None
        if inbound.channel is Channel.EMAIL:
            task_id = await self._conversations.task_of_thread(
                (*((inbound.in_reply_to,) if inbound.in_reply_to else ()), *inbound.references)
            )
        if task_id is None:
            pointer = await self._conversations.open_pointer(str(inbound.channel), inbound.sender)
            task_id = pointer.call_id if pointer else None
        task = await self._writes.calls.get(task_id) if task_id else None
        if task is None or task.state not in task_rules.OPEN_STATES:
            return None
        return task

    async def _open_new(self, inbound: InboundMessage, dialect: str) -> tuple[Call, Message | None]:
        """A new task for `inbound`; (the task, None) when the message was taken before
        (then the task is the one the customer's pointer leads to)."""
        now = self._writes.clock.now()
        channel = str(inbound.channel)
        task = task_rules.new_task(
            "t-" + secrets.token_hex(8),
            channel=inbound.channel,
            customer=inbound.sender,
            caller_key=await self._callers.primary(caller_key(inbound.sender)),
            queue=self._default_queue,
            address=inbound.recipient,
            subject=inbound.subject,
            attributes={"name": inbound.sender_name} if inbound.sender_name else {},
            dialect=dialect,
            now=now,
        )
        first = self._writes.customer_message(task, inbound.body, now, inbound=inbound)
        routed, timers = await self._routing.route_call(task)
        routed = task_rules.from_customer(routed, first, _thread_ids(inbound))
        pointer_key = open_task(channel, inbound.sender)
        read = await self._conversations.open_pointer(channel, inbound.sender)
        result, _ = await self._writes.calls.commit(
            None,
            routed,
            (),
            event_id=None,
            now=now,
            timers=timers,
            claim=(pointer_key, read),
            conversation=ConversationWrite(
                messages=(first,),
                thread_ids=_thread_ids(inbound),
                seen=(channel, inbound.external_id),
            ),
        )
        if result is CommitResult.DUPLICATE:
            earlier = await self._writes.calls.get(read.call_id) if read else None
            return (earlier or routed), None
        if result is not CommitResult.COMMITTED:
            raise Retry  # another instance opened a conversation for them meanwhile
        self._writes.metrics.tasks_total.labels(channel, routed.queue, "created").inc()
        self._routing.request_dispatch()
        return routed, first


def _thread_ids(inbound: InboundMessage) -> tuple[str, ...]:
    return (inbound.external_id,) if inbound.channel is Channel.EMAIL else ()
