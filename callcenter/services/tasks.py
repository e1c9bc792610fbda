"""Text task use cases: open a conversation (the API, the chat widget, an inbound SMS or
email), add the customer's messages, send the agent's replies through the task's channel,
resolve it. Offers and accepts are routing's, as for calls.

Every change is one optimistic commit of the task document with its new messages, so a
message is never stored without the counters that go with it, and an inbound message
redelivered by its channel (same MessageSid / Message-ID) is taken once."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import Annotated, Literal

import msgspec

from callcenter.domain import tasks as task_rules
from callcenter.domain.call_lifecycle import summarise
from callcenter.domain.callers import EXCERPT_LINES, caller_key, excerpt_of
from callcenter.domain.calls import Call
from callcenter.domain.events import EventAttributes, QueueName
from callcenter.domain.messages import (
    Author,
    Channel,
    Message,
    OutboundMessage,
)
from callcenter.errors import Conflict, ReplyNotSent
from callcenter.services.callers import CallerService
from callcenter.services.optimistic import with_retries
from callcenter.services.routing import RoutingService
from callcenter.services.task_writes import ReplySender, TaskWrites
from callcenter.storage.conversations import ConversationStore, ConversationWrite
from callcenter.storage.documents import CommitResult
from callcenter.storage.moods import CallMoodRepository

logger = logging.getLogger(__name__)


Identity = Annotated[str, msgspec.Meta(min_length=1, max_length=320)]


class TaskRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`POST /v1/tasks`: a conversation to route. `from` is the customer on that channel
    (a number, an address, a chat visitor id); `body` its first message, if any."""

    channel: Literal["chat", "sms", "email"]
    from_: Identity = msgspec.field(name="from")
    queue: QueueName | None = None
    to: Identity | None = None
    subject: Annotated[str, msgspec.Meta(max_length=300)] | None = None
    body: Annotated[str, msgspec.Meta(max_length=4000)] | None = None
    name: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    # the customer's other identities this channel learnt (a phone number and an email
    # given in a chat): linked to one customer record with `from`
    identities: Annotated[list[Identity], msgspec.Meta(max_length=5)] = msgspec.field(
        default_factory=list
    )
    attributes: EventAttributes = msgspec.field(default_factory=dict)


class TaskService:
    def __init__(
        self,
        writes: TaskWrites,
        conversations: ConversationStore,
        callers: CallerService,
        routing: RoutingService,
        *,
        senders: Mapping[Channel, ReplySender],
        moods: CallMoodRepository,
        default_queue: str,
    ) -> None:
        self._moods = moods
        self._writes = writes
        self._calls = writes.calls
        self._clock = writes.clock
        self._metrics = writes.metrics
        self._conversations = conversations
        self._callers = callers
        self._routing = routing
        self._senders = senders
        self._default_queue = default_queue

    async def get(self, task_id: str) -> Call:
        """The task; raises NotFound (also for a voice call's id)."""
        return await self._writes.get(task_id)

    async def messages(self, task_id: str) -> list[Message]:
        await self.get(task_id)
        return await self._conversations.messages(task_id)

    async def create(self, body: TaskRequest, *, dialect: str = "api") -> Call:
        """A new conversation, routed to its queue, with its first message if any. Raises
        InvalidInput (blank or oversize text)."""
        now = self._clock.now()
        key = await self._callers.primary(caller_key(body.from_))
        if body.identities:
            await self._callers.link(key, body.identities)
        task = task_rules.new_task(
            "t-" + secrets.token_hex(8),
            channel=Channel(body.channel),
            customer=body.from_,
            caller_key=key,
            queue=body.queue or self._default_queue,
            address=body.to,
            subject=body.subject,
            attributes=dict(body.attributes) | ({"name": body.name} if body.name else {}),
            dialect=dialect,
            now=now,
        )
        first = self._writes.customer_message(task, body.body, now) if body.body else None
        routed, timers = await self._routing.route_call(task)
        if first is not None:
            routed = task_rules.from_customer(routed, first)
        result, _ = await self._calls.commit(
            None,
            routed,
            (),
            event_id=None,
            now=now,
            timers=timers,
            conversation=ConversationWrite(messages=(first,) if first else ()),
        )
        if result is not CommitResult.COMMITTED:
            raise Conflict(f"task {task.id} exists already")
        self._metrics.tasks_total.labels(body.channel, routed.queue, "created").inc()
        self._routing.request_dispatch()
        if first is not None:
            await self._writes.after_customer(routed, first)
        return routed

    async def customer_message(self, task_id: str, body: str) -> Message:
        """The customer wrote in an open task. Raises NotFound, Conflict (over),
        InvalidInput (blank or oversize)."""

        async def attempt() -> tuple[Call, Message]:
            task = await self.get(task_id)
            message = self._writes.customer_message(task, body, self._clock.now())
            changed = task_rules.from_customer(task, message)
            await self._writes.store(task, changed, ConversationWrite(messages=(message,)))
            return changed, message

        task, message = await with_retries("task", task_id, attempt)
        await self._writes.after_customer(task, message)
        return message

    async def reply(self, task_id: str, agent_id: str, body: str) -> Message:
        """The agent's reply: sent through the task's channel (SMS, email), then stored and
        shown. Raises NotFound, Conflict (not this agent's, or not accepted yet),
        InvalidInput, ReplyNotSent (the channel refused: nothing stored)."""
        task = await self.get(task_id)
        now = self._clock.now()
        message = task_rules.message(
            "m-" + secrets.token_hex(8),
            task,
            author=Author.AGENT,
            body=body,
            at=now,
            agent_id=agent_id,
            subject=task.conversation.subject if task.conversation else None,
        )
        task_rules.from_agent(task, message)  # refuse before sending anything
        outbound = await self._send(task, message)
        thread = (outbound.message_id,) if outbound and outbound.message_id else ()

        async def attempt() -> Call:
            current = await self.get(task_id)
            changed = task_rules.from_agent(current, message, thread)
            await self._writes.store(
                current, changed, ConversationWrite(messages=(message,), thread_ids=thread)
            )
            return changed

        stored = await with_retries("task", task_id, attempt)
        self._metrics.task_messages_total.labels(str(stored.channel), "agent").inc()
        first = task_rules.first_response_seconds(stored)
        if first is not None and stored.conversation and stored.conversation.agent_messages == 1:
            self._metrics.first_response_seconds.labels(str(stored.channel)).observe(first)
        await self._writes.publish(stored, message)
        return message

    async def _send(self, task: Call, message: Message) -> OutboundMessage | None:
        """Hand the reply to its channel (chat needs none: the bus carries it)."""
        if task.channel is Channel.CHAT:
            return None
        sender = self._senders.get(task.channel)
        conversation = task.conversation
        if sender is None or conversation is None:
            raise ReplyNotSent(str(task.channel), "this server has no sender for the channel")
        outbound = _outbound(task, message)
        await sender.send(outbound)
        return outbound

    async def resolve(
        self,
        task_id: str,
        *,
        agent_id: str | None,
        disposition: str | None = None,
        notes: str | None = None,
        reason: str = "resolved",
    ) -> Call:
        """Close the task: handled if an agent was working it, abandoned otherwise. An
        agent may resolve only its own task (`agent_id` None: an admin or the gateway).
        Resolving a closed task returns it unchanged. Raises NotFound, Conflict."""

        async def attempt() -> tuple[Call, bool]:
            task = await self.get(task_id)
            holder = task_rules.holder_id(task)
            if agent_id is not None and holder != agent_id:
                raise Conflict(f"task {task_id} is not agent {agent_id}'s")
            agent = (await self._calls.get_agents([holder])).get(holder) if holder else None
            ended, freed = task_rules.resolve(task, agent, self._clock.now(), reason=reason)
            if ended is task:
                return task, False
            pairs = ((agent, freed),) if agent is not None and freed is not None else ()
            await self._writes.store(task, ended, None, pairs)
            return ended, True

        task, changed = await with_retries("task", task_id, attempt)
        if changed:
            await self._finished(task, disposition, notes)
        return task

    async def _finished(self, task: Call, disposition: str | None, notes: str | None) -> None:
        channel = str(task.channel)
        self._metrics.tasks_total.labels(channel, task.queue, str(task.outcome)).inc()
        if task.answered_at is not None and task.ended_at is not None:
            handle = (task.ended_at - task.answered_at).total_seconds()
            self._metrics.task_handle_seconds.labels(channel).observe(max(0.0, handle))
        self._routing.request_dispatch()  # the agent has room again
        if task.caller_key:
            last = await self._conversations.messages(task.id, EXCERPT_LINES)
            summary = msgspec.structs.replace(
                summarise(task),
                disposition=disposition,
                notes=notes,
                sentiment=await self._moods.final(task.id),
                excerpt=excerpt_of((str(m.author), m.body) for m in last),
            )
            # a contact on any channel makes the customer's earlier handled ones unresolved
            for earlier in await self._callers.record_call(task.caller_key, summary):
                self._metrics.unresolved_calls_total.labels(earlier.queue).inc()


def _outbound(task: Call, message: Message) -> OutboundMessage:
    conversation = task.conversation
    assert conversation is not None
    thread = conversation.thread
    return OutboundMessage(
        channel=task.channel,
        to=conversation.customer,
        from_=conversation.address or "",
        body=message.body,
        subject=conversation.subject,
        message_id=_message_id(task, message, conversation.address)
        if task.channel is Channel.EMAIL
        else None,
        in_reply_to=thread[-1] if thread else None,
        references=thread,
    )


def _message_id(task: Call, message: Message, address: str | None) -> str:
    """A reply's Message-ID, on the domain the customer wrote to (ours): unique by the
    message and task ids, and known before sending, so the thread records it."""
    domain = (address or "").rpartition("@")[2] or "callcenter.invalid"
    return f"<{message.id}.{task.id}@{domain}>"
