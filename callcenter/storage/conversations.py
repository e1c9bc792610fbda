"""Conversations of text tasks in Redis: the messages (a capped list per task), the email
threads that lead to a task, the customer's open conversation per channel, and the guard
that takes each inbound message once. Written inside the task's own commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import msgspec

from callcenter.domain.messages import Message
from callcenter.storage import keys
from callcenter.storage.documents import CommitPlan, DocumentStore, text


class CallbackClaim(msgspec.Struct, frozen=True, kw_only=True):
    """A versioned pointer to a call: the latest callback a caller asked for in a queue
    (a repeated request finds it), or a customer's open conversation on a channel."""

    call_id: str
    version: int = 0


# The newest messages kept per conversation; older ones are dropped from the stored list.
MESSAGES_KEPT = 1000
_MESSAGES = msgspec.json.Decoder(Message)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationWrite:
    """What a task commit adds to its conversation: new messages, email Message-IDs that
    now lead to the task, and the inbound message's redelivery guard."""

    messages: tuple[Message, ...] = ()
    thread_ids: tuple[str, ...] = ()
    seen: tuple[str, str] | None = None  # (channel, the channel's message id)


def write_conversation(
    plan: CommitPlan,
    task_id: str,
    write: ConversationWrite,
    *,
    retention: timedelta,
    dedupe_window: timedelta,
) -> None:
    """Add `write` to a task's commit plan."""
    ttl = int(retention.total_seconds())
    if write.seen is not None:
        plan.guard(keys.message_seen(*write.seen), int(dedupe_window.total_seconds()))
    for message in write.messages:
        plan.append(keys.task_messages(task_id), message, cap=MESSAGES_KEPT, ttl_seconds=ttl)
    for message_id in write.thread_ids:
        plan.set(keys.email_thread(message_id), task_id, ttl)


class ConversationStore:
    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    async def messages(self, task_id: str, limit: int = MESSAGES_KEPT) -> list[Message]:
        """The newest `limit` messages of a task, oldest first."""
        raw = await self._store.client.execute("LRANGE", keys.task_messages(task_id), -limit, -1)
        return [_MESSAGES.decode(item) for item in raw]

    async def task_of_thread(self, message_ids: tuple[str, ...]) -> str | None:
        """The task the first of `message_ids` that leads anywhere leads to."""
        if not message_ids:
            return None
        found = await self._store.client.pipeline(
            [("GET", keys.email_thread(i)) for i in message_ids]
        )
        return next((text(hit) for hit in found if hit is not None), None)

    async def open_pointer(self, channel: str, who: str) -> CallbackClaim | None:
        """The pointer to the customer's latest conversation on `channel`, if any."""
        return await self._store.load(keys.open_task(channel, who), CallbackClaim)
