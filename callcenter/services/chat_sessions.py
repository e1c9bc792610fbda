"""Web chat sessions: a customer without an account starts a chat (optionally giving a name,
an email and a phone number, which link the chat to their customer record) and gets a
signed session token that names the chat's task; with it the chat window resumes after a
reload or a dropped connection on any instance (every instance shares the signing key)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Annotated

import msgspec

from callcenter.domain.calls import Call
from callcenter.domain.events import E164Number, QueueName
from callcenter.domain.messages import Message
from callcenter.errors import Unauthorized
from callcenter.services.clock import Clock
from callcenter.services.tasks import TaskRequest, TaskService

SESSION_LIFETIME = timedelta(hours=24)
Email = Annotated[str, msgspec.Meta(pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$", max_length=254)]


class ChatStart(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="start"):
    """The first message of a new chat; every field optional."""

    name: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    email: Email | None = None
    phone: E164Number | None = None
    queue: QueueName | None = None
    topic: Annotated[str, msgspec.Meta(max_length=300)] | None = None
    message: Annotated[str, msgspec.Meta(max_length=4000)] | None = None


class ChatResume(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="resume"
):
    token: Annotated[str, msgspec.Meta(max_length=200)]


class ChatSession(msgspec.Struct, frozen=True, kw_only=True, tag="session"):
    """A chat's session: its task and the token that resumes it."""

    task_id: str
    token: str
    expires_at: datetime


class ChatSessions:
    def __init__(self, tasks: TaskService, *, secret: str, clock: Clock) -> None:
        self._tasks = tasks
        self._secret = secret.encode()
        self._clock = clock

    async def start(self, start: ChatStart) -> ChatSession:
        """A new chat task (routed like any), and its session. Raises InvalidInput for a
        blank or oversize first message."""
        visitor = "chat-" + secrets.token_hex(8)
        identities = [i for i in (start.phone, start.email) if i]
        request = TaskRequest(
            channel="chat",
            from_=identities[0] if identities else visitor,
            queue=start.queue,
            subject=start.topic,
            body=start.message or None,
            name=start.name,
            identities=identities[1:],
        )
        task = await self._tasks.create(request, dialect="chat")
        return self.session_for(task.id)

    def session_for(self, task_id: str) -> ChatSession:
        """A session for an existing chat (one opened through the API by a site's own chat
        front end, which hands the token to its customer's window)."""
        expires = self._clock.now() + SESSION_LIFETIME
        claim = f"{task_id}.{int(expires.timestamp())}"
        return ChatSession(
            task_id=task_id, token=f"{claim}.{self._sign(claim)}", expires_at=expires
        )

    def _sign(self, claim: str) -> str:
        return hmac.new(self._secret, claim.encode(), hashlib.sha256).hexdigest()[:40]

    def verify(self, token: str) -> str:
        """The task a session token names. Raises Unauthorized (bad or expired)."""
        task_id, _, rest = token.partition(".")
        expiry, _, signature = rest.partition(".")
        claim = f"{task_id}.{expiry}"
        if not (task_id and expiry.isdigit() and hmac.compare_digest(self._sign(claim), signature)):
            raise Unauthorized("not a chat session token of this server")
        if int(expiry) < self._clock.now().timestamp():
            raise Unauthorized("the chat session has expired")
        return task_id

    async def conversation(self, task_id: str) -> tuple[Call, list[Message]]:
        return await self._tasks.get(task_id), await self._tasks.messages(task_id)

    async def write(self, task_id: str, body: str) -> Message:
        """The customer writes. Raises Conflict (the chat is over), InvalidInput."""
        return await self._tasks.customer_message(task_id, body)

    async def leave(self, task_id: str) -> Call:
        """The customer closes the chat (abandoned if nobody had taken it)."""
        return await self._tasks.resolve(task_id, agent_id=None, reason="customer_left")
