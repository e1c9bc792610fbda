"""Conversations in Redis: messages are stored with the task's commit (capped, oldest
dropped), email Message-IDs lead back to their task, and an inbound message's guard takes
it once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcenter.domain.messages import Author, Channel, Message
from callcenter.domain.tasks import new_task
from callcenter.storage import conversations
from callcenter.storage.calls import CallRepository
from callcenter.storage.conversations import ConversationStore, ConversationWrite
from callcenter.storage.documents import CommitResult, DocumentStore
from callcenter.storage.resp import RespClient

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def message(n: int, task_id: str = "t1") -> Message:
    return Message(
        id=f"m{n}",
        task_id=task_id,
        at=NOW + timedelta(seconds=n),
        author=Author.CUSTOMER,
        body=f"message {n}",
    )


@pytest.fixture
def stores(resp: RespClient) -> tuple[CallRepository, ConversationStore]:
    store = DocumentStore(resp)
    calls = CallRepository(store, retention=timedelta(days=7), dedupe_window=timedelta(days=1))
    return calls, ConversationStore(store)


async def test_messages_are_kept_in_order_and_capped(
    stores: tuple[CallRepository, ConversationStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls, store = stores
    monkeypatch.setattr(conversations, "MESSAGES_KEPT", 3)
    task = new_task(
        "t1",
        channel=Channel.EMAIL,
        customer="pat@example.com",
        caller_key="pat@example.com",
        queue="general",
        now=NOW,
    )
    write = ConversationWrite(messages=(message(0), message(1)), thread_ids=("<a@x>",))
    result, _ = await calls.commit(None, task, (), event_id=None, now=NOW, conversation=write)
    assert result is CommitResult.COMMITTED
    stored = await calls.get("t1")
    assert stored is not None
    for n in (2, 3):
        result, _ = await calls.commit(
            stored,
            stored,
            (),
            event_id=None,
            now=NOW,
            conversation=ConversationWrite(messages=(message(n),)),
        )
        assert result is CommitResult.COMMITTED
    assert [m.body for m in await store.messages("t1")] == ["message 1", "message 2", "message 3"]
    assert [m.id for m in await store.messages("t1", 2)] == ["m2", "m3"]
    assert await store.task_of_thread(("<nothing@x>", "<a@x>")) == "t1"
    assert await store.task_of_thread(("<nothing@x>",)) is None


async def test_an_inbound_message_is_taken_once(
    stores: tuple[CallRepository, ConversationStore],
) -> None:
    calls, store = stores
    task = new_task(
        "t1",
        channel=Channel.SMS,
        customer="+15551230000",
        caller_key="+15551230000",
        queue="general",
        now=NOW,
    )
    seen = ("sms", "SM1")
    first = ConversationWrite(messages=(message(0),), seen=seen)
    result, _ = await calls.commit(None, task, (), event_id=None, now=NOW, conversation=first)
    assert result is CommitResult.COMMITTED
    stored = await calls.get("t1")
    assert stored is not None
    again = ConversationWrite(messages=(message(1),), seen=seen)
    result, _ = await calls.commit(stored, stored, (), event_id=None, now=NOW, conversation=again)
    assert result is CommitResult.DUPLICATE
    assert [m.id for m in await store.messages("t1")] == ["m0"]
