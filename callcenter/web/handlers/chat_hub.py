"""This instance's chat sockets by task, fed from one bus subscription: each event about a
chat (a message, the agent typing, a change of state) is decoded once and handed to every
socket of that chat. The bus carries events from every instance, so a reply posted on one
reaches a customer connected to another."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import msgspec
from aiohttp import web

from callcenter.services.bus import Delivered, EventBus, tag_of
from callcenter.services.live_events import CallUpdated, TaskMessage, TaskTyping
from callcenter.web.handlers.chat_protocol import (
    ENCODER,
    MessageFrame,
    PublicMessage,
    TypingFrame,
)
from callcenter.web.state import BUS, CHAT_HUB


class Control(Enum):
    HISTORY = "history"  # send the whole conversation again
    BEHIND = "behind"  # the socket fell too far behind: close it, the client reconnects


@dataclass(frozen=True, slots=True)
class StateSeen:
    """The chat's state as the bus told it (the socket names the agent); a version no
    higher than the socket has shown is old news."""

    state: str
    agent_id: str | None
    version: int


Outgoing = str | StateSeen | Control  # str: a frame ready to send
JOINED = frozenset({"connected", "wrap_up"})  # an agent only offered the chat has not joined


def joined(state: str, agent_id: str | None) -> str | None:
    """The agent with the customer: the task's agent once it accepted, until the end."""
    return agent_id if state in JOINED else None


class ChatWindow(Protocol):
    def push(self, item: Outgoing) -> None:
        """Take an item at once (on the loop), never blocking."""
        ...


class _Author(msgspec.Struct):
    author: str


class _TaskState(msgspec.Struct):
    state: str
    version: int
    agent_id: str | None = None


class _Message(msgspec.Struct):
    data: PublicMessage


class _Typing(msgspec.Struct):
    data: _Author


class _Updated(msgspec.Struct):
    data: _TaskState


MESSAGE, TYPING, UPDATED = (tag_of(kind) for kind in (TaskMessage, TaskTyping, CallUpdated))
_MESSAGE = msgspec.json.Decoder(_Message)
_TYPING = msgspec.json.Decoder(_Typing)
_UPDATED = msgspec.json.Decoder(_Updated)
_AGENT_TYPING = ENCODER.encode(TypingFrame()).decode()


def outgoing(kind: str, text: str) -> Outgoing | None:
    """What a chat's sockets get of a bus event of type `kind` (None: nothing)."""
    if kind == MESSAGE:
        message = _MESSAGE.decode(text).data
        return ENCODER.encode(MessageFrame(message=message)).decode()
    if kind == TYPING:
        # the customer's own typing goes to the agent's desk, not back to the customer
        return _AGENT_TYPING if _TYPING.decode(text).data.author == "agent" else None
    if kind == UPDATED:
        task = _UPDATED.decode(text).data
        return StateSeen(task.state, joined(task.state, task.agent_id), task.version)
    return None


class ChatHub:
    def __init__(self, bus: EventBus) -> None:
        self._windows: dict[str, set[ChatWindow]] = defaultdict(set)
        self._unsubscribe = bus.subscribe(self.deliver, start_over=self.start_over)

    def close(self) -> None:
        self._unsubscribe()

    def add(self, task_id: str, window: ChatWindow) -> None:
        self._windows[task_id].add(window)

    def discard(self, task_id: str, window: ChatWindow) -> None:
        windows = self._windows.get(task_id)
        if windows is not None:
            windows.discard(window)
            if not windows:
                del self._windows[task_id]

    def deliver(self, header: Delivered, text: str) -> None:
        """The bus's subscriber: events of a chat with sockets here go to them."""
        windows = self._windows.get(header.call_id or "")
        if not windows:
            return
        item = outgoing(header.type, text)
        if item is not None:
            for window in tuple(windows):
                window.push(item)

    def start_over(self) -> None:
        """The bus started a new epoch (events may be missing): every socket gets its
        conversation again."""
        for windows in self._windows.values():
            for window in tuple(windows):
                window.push(Control.HISTORY)


async def chat_hub(app: web.Application) -> AsyncIterator[None]:
    """The hub's life (a cleanup_ctx entry, after the bus's)."""
    hub = ChatHub(app[BUS])
    app[CHAT_HUB] = hub
    yield
    hub.close()
