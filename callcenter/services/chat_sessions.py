"""Web chat sessions: a customer without an account opens a chat (optionally giving a name,
an email and a phone number, which link the chat to their customer record) and gets a
signed session token that names the chat's task; with it the chat window follows the chat
after a reload or a dropped connection, on any instance (every instance shares the key).
Typing, both ways, is announced on the bus at most once a second per chat and author."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Annotated, Literal, Protocol

import msgspec

from callcenter.domain import chat_tokens
from callcenter.domain.calls import Call, CallState
from callcenter.domain.events import E164Number, QueueName
from callcenter.domain.messages import Channel, Message
from callcenter.domain.tasks import holder_id
from callcenter.errors import Conflict, NotFound, TooManyRequests
from callcenter.services.agents import AgentService
from callcenter.services.bus import EventBus
from callcenter.services.clock import Clock
from callcenter.services.live_events import TaskTyping, Typing
from callcenter.services.tasks import TaskRequest, TaskService

SESSION_LIFETIME = timedelta(hours=24)
TYPING_EVERY_MS = 1000
Email = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$",
        max_length=254,
        description="An email address (name@example.com)",
    ),
]


class ChatStart(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`POST /v1/chat/sessions`: a new chat; every field optional. The phone (else the
    email) is the customer's identity, so a chat from a known number lands on its record."""

    name: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    email: Email | None = None
    phone: E164Number | None = None
    queue: QueueName | None = None
    topic: Annotated[str, msgspec.Meta(max_length=300)] | None = None
    message: Annotated[str, msgspec.Meta(max_length=4000)] | None = None  # the first one


class ChatSession(msgspec.Struct, frozen=True, kw_only=True):
    """A chat's session: its task and the token the chat window authenticates with."""

    task_id: str
    token: str
    expires_at: datetime


class ChatLimits(Protocol):
    """The shared limits (storage.chat_limits)."""

    async def take_start(self, address: str, *, per_minute: int) -> float | None: ...

    async def first_typing(self, task_id: str, who: str, *, milliseconds: int) -> bool: ...


class ChatSessions:
    def __init__(
        self,
        tasks: TaskService,
        agents: AgentService,
        bus: EventBus,
        limits: ChatLimits,
        *,
        secret: str,
        clock: Clock,
        starts_per_minute: int,
    ) -> None:
        self._tasks = tasks
        self._agents = agents
        self._bus = bus
        self._limits = limits
        self._key = secret.encode()
        self._clock = clock
        self._starts_per_minute = starts_per_minute

    async def start(self, start: ChatStart, *, address: str) -> ChatSession:
        """A new chat task (routed like any), and its session. Raises TooManyRequests (too
        many new chats from `address` this minute), InvalidInput (a blank first message)."""
        wait = await self._limits.take_start(address, per_minute=self._starts_per_minute)
        if wait is not None:
            raise TooManyRequests(
                f"at most {self._starts_per_minute} new chats a minute from one address; "
                f"try again in {wait:.0f} s",
                retry_after=round(wait + 0.5),
            )
        identities = [i for i in (start.phone, start.email) if i]
        request = TaskRequest(
            channel="chat",
            from_=identities[0] if identities else "chat-" + secrets.token_hex(8),
            queue=start.queue,
            subject=start.topic,
            body=start.message if start.message and start.message.strip() else None,
            name=start.name,
            identities=identities[1:],
        )
        task = await self._tasks.create(request, dialect="chat")
        return self.session_for(task.id)

    def session_for(self, task_id: str) -> ChatSession:
        """A session for an existing chat (also one opened through `POST /v1/tasks` by a
        site's own chat front end, which hands the token to its customer's window)."""
        expires = (self._clock.now() + SESSION_LIFETIME).replace(microsecond=0)  # as signed
        token = chat_tokens.issue(self._key, task_id, expires)
        return ChatSession(task_id=task_id, token=token, expires_at=expires)

    def verify(self, token: str) -> str:
        """The task a session token names. Raises Unauthorized (bad or expired)."""
        return chat_tokens.task_of(self._key, token, self._clock.now())

    async def conversation(self, task_id: str) -> tuple[Call, list[Message]]:
        """The chat and its messages, oldest first. Raises NotFound."""
        return await self._tasks.get(task_id), await self._tasks.messages(task_id)

    async def write(self, task_id: str, body: str) -> Message:
        """The customer writes. Raises Conflict (the chat is over), InvalidInput."""
        return await self._tasks.customer_message(task_id, body)

    async def leave(self, task_id: str) -> Call:
        """The customer closes the chat (abandoned if nobody had taken it)."""
        return await self._tasks.resolve(task_id, agent_id=None, reason="customer_left")

    async def agent_name(self, agent_id: str) -> str | None:
        """The name the customer sees of an agent (None if it is gone)."""
        try:
            return (await self._agents.get(agent_id)).name
        except NotFound:
            return None

    async def customer_typing(self, task_id: str) -> None:
        """The customer is typing: its agent's desk may show it (nothing once it is over)."""
        if not await self._limits.first_typing(task_id, "customer", milliseconds=TYPING_EVERY_MS):
            return
        task = await self._tasks.get(task_id)
        if task.state is not CallState.ENDED:
            await self._announce(task, "customer")

    async def agent_typing(self, task_id: str, agent_id: str) -> None:
        """The agent is typing in its chat: the customer's window shows it. Raises
        NotFound, Conflict (not a chat this agent works)."""
        task = await self._tasks.get(task_id)
        if task.channel is not Channel.CHAT:
            raise Conflict(f"task {task_id} is no chat: only chats show typing")
        if task.agent_id != agent_id or task.state is not CallState.CONNECTED:
            raise Conflict(f"task {task_id} is not being worked by agent {agent_id}")
        if await self._limits.first_typing(task_id, "agent", milliseconds=TYPING_EVERY_MS):
            await self._announce(task, "agent")

    async def _announce(self, task: Call, author: Literal["agent", "customer"]) -> None:
        await self._bus.publish(
            TaskTyping(
                data=Typing(author=author),
                call_id=task.id,
                agent_id=holder_id(task),
                queue=task.queue,
            )
        )
