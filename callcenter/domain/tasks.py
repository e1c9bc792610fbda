"""Text tasks (chat, SMS, email): a conversation that waits in a queue like a call, is
offered to an agent with room for it, and stays with that agent until resolved.

Pure transitions of the task (a `Call` document with a `conversation`) and its agent. The
queue, offer and accept steps are the voice ones (`reservations`); what differs lives
here: messages in both directions, resolve, and the customer leaving first."""

from __future__ import annotations

from datetime import datetime

import msgspec

from callcenter.domain import calls
from callcenter.domain.agents import Agent
from callcenter.domain.calls import Attributes, Call, CallState, Outcome, transition
from callcenter.domain.messages import (
    MAX_BODY_CHARS,
    MAX_SUBJECT_CHARS,
    TEXT_CHANNELS,
    Author,
    Channel,
    Conversation,
    Message,
)
from callcenter.domain.reservations import release_task
from callcenter.errors import Conflict, InvalidInput

# Email Message-IDs kept per conversation for threading (newest last).
THREAD_IDS_KEPT = 20
OPEN_STATES = frozenset({CallState.QUEUED, CallState.OFFERED, CallState.CONNECTED})


def check_text(body: str, pointer: str = "/body") -> str:
    """A message body: not blank, at most MAX_BODY_CHARS. Raises InvalidInput."""
    if not body.strip():
        raise InvalidInput("a message needs some text", pointer)
    if len(body) > MAX_BODY_CHARS:
        raise InvalidInput(f"at most {MAX_BODY_CHARS} characters (got {len(body)})", pointer)
    return body


def check_subject(subject: str | None) -> str | None:
    if subject is not None and len(subject) > MAX_SUBJECT_CHARS:
        raise InvalidInput(f"at most {MAX_SUBJECT_CHARS} characters", "/subject")
    return subject


def new_task(
    task_id: str,
    *,
    channel: Channel,
    customer: str,
    caller_key: str | None,
    queue: str,
    now: datetime,
    address: str | None = None,
    subject: str | None = None,
    attributes: Attributes | None = None,
    dialect: str = "api",
) -> Call:
    """A text conversation waiting in `queue` from now. Raises InvalidInput for a channel
    that is not a text channel."""
    if channel not in TEXT_CHANNELS:
        raise InvalidInput(f"tasks are {', '.join(sorted(TEXT_CHANNELS))}", "/channel")
    return calls.waiting(
        task_id,
        queue=queue,
        customer=customer,
        caller_key=caller_key,
        now=now,
        dialect=dialect,
        attributes=attributes,
        to=address,
        channel=channel,
        conversation=Conversation(
            customer=customer, address=address, subject=check_subject(subject)
        ),
    )


def _conversation(task: Call) -> Conversation:
    if task.conversation is None:
        raise Conflict(f"{task.id} is a {task.channel} call, not a conversation")
    return task.conversation


def _open(task: Call) -> Conversation:
    conversation = _conversation(task)
    if task.state not in OPEN_STATES:
        raise Conflict(f"task {task.id} is {task.state}")
    return conversation


def from_customer(task: Call, message: Message, thread_ids: tuple[str, ...] = ()) -> Call:
    """The customer wrote `message`. Raises Conflict when the task is over (the caller
    starts a new one)."""
    conversation = _open(task)
    thread = (*conversation.thread, *(i for i in thread_ids if i not in conversation.thread))
    updated = msgspec.structs.replace(
        conversation,
        customer_messages=conversation.customer_messages + 1,
        first_customer_at=conversation.first_customer_at or message.at,
        last_customer_at=message.at,
        subject=conversation.subject or message.subject,
        thread=thread[-THREAD_IDS_KEPT:],
    )
    return msgspec.structs.replace(
        task, conversation=updated, updated_at=message.at, last_event_at=message.at
    )


def from_agent(task: Call, message: Message, thread_ids: tuple[str, ...] = ()) -> Call:
    """The task's agent replied. Raises Conflict unless the task is connected to that
    agent (an offer must be accepted before replying)."""
    conversation = _open(task)
    if task.state is not CallState.CONNECTED or task.agent_id != message.agent_id:
        raise Conflict(f"task {task.id} is not being worked by agent {message.agent_id}")
    thread = (*conversation.thread, *thread_ids)
    updated = msgspec.structs.replace(
        conversation,
        agent_messages=conversation.agent_messages + 1,
        first_response_at=conversation.first_response_at or message.at,
        last_agent_at=message.at,
        thread=thread[-THREAD_IDS_KEPT:],
    )
    return msgspec.structs.replace(task, conversation=updated, updated_at=message.at)


def quiet_for(task: Call, now: datetime) -> float:
    """Seconds since anyone last wrote in the conversation (or since it opened)."""
    conversation = _conversation(task)
    times = [task.created_at, conversation.last_customer_at, conversation.last_agent_at]
    latest = max(t for t in times if t is not None)
    return max(0.0, (now - latest).total_seconds())


def first_response_seconds(task: Call) -> float | None:
    """Customer's first message → agent's first reply, once both happened."""
    conversation = task.conversation
    if conversation is None or conversation.first_response_at is None:
        return None
    start = conversation.first_customer_at or task.created_at
    return max(0.0, (conversation.first_response_at - start).total_seconds())


def resolve(
    task: Call, agent: Agent | None, now: datetime, *, reason: str = "resolved"
) -> tuple[Call, Agent | None]:
    """The task is over: handled when an agent was working it, else abandoned (the
    customer left, or it was closed before anyone took it). An offer is withdrawn and the
    agent's capacity freed. Resolving an ended task returns it unchanged."""
    _conversation(task)
    if task.state is CallState.ENDED:
        return task, agent
    handled = task.state is CallState.CONNECTED
    ended = msgspec.structs.replace(
        task,
        state=transition(task, CallState.ENDED),
        outcome=Outcome.HANDLED if handled else Outcome.ABANDONED,
        end_reason=reason,
        ended_at=now,
        resolved_at=now if handled else None,
        reservation=None,
        updated_at=now,
        agent_id=task.agent_id if handled else None,
    )
    freed = release_task(agent, task.id) if agent is not None else None
    return ended, freed


def holder_id(task: Call) -> str | None:
    """The agent working the task, or the one it is offered to."""
    if task.agent_id is not None:
        return task.agent_id
    return task.reservation.agent_id if task.reservation is not None else None


def message(
    message_id: str,
    task: Call,
    *,
    author: Author,
    body: str,
    at: datetime,
    agent_id: str | None = None,
    subject: str | None = None,
    external_id: str | None = None,
    sentiment: tuple[float, str] | None = None,
) -> Message:
    """A checked message of `task`'s conversation (`sentiment`: a customer's message's
    score and label). Raises InvalidInput for a bad body."""
    return Message(
        id=message_id,
        task_id=task.id,
        at=at,
        author=author,
        body=check_text(body),
        agent_id=agent_id,
        subject=check_subject(subject),
        external_id=external_id,
        sentiment=sentiment[0] if sentiment else None,
        sentiment_label=sentiment[1] if sentiment else None,
    )
