"""`/ws/chat`: the customer's side of a web chat. The first message starts a chat
(`{"type": "start", ...}`) or resumes one (`{"type": "resume", "token"}`); the server answers
with the session, then the conversation so far, then, live, the agent's messages and the
chat's state. The customer sends `{"type": "message", "body"}` or `{"type": "leave"}`.

Limits, each refusal counted in `callcenter_chat_rejections_total{reason}`: frames up to
8 KB, messages up to 4,000 characters, five messages a second (bursts of ten) per socket,
five new chats a minute per client address. A bad first message closes the socket with a
reason (4401 for a bad or expired token, 1008 otherwise); a bad later one gets an error
frame and the chat goes on."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from callcenter.errors import CallcenterError, Unauthorized
from callcenter.services.bus import Delivered, EventBus
from callcenter.services.chat_sessions import ChatResume, ChatSession, ChatStart
from callcenter.web.close_codes import CLOSE_UNAUTHORIZED
from callcenter.web.state import BUS, CHAT_HUB, METRICS, SERVICES

logger = logging.getLogger(__name__)

FIRST_MESSAGE_SECONDS = 5.0
MAX_FRAME = 8192
RATE, BURST = 5.0, 10.0  # messages per second, per socket
STARTS_PER_MINUTE = 5  # new chats per client address and instance
OUTBOX = 256
FORWARDED = frozenset({"task.message", "call.updated", "task.typing"})


class Written(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="message"):
    body: Annotated[str, msgspec.Meta(max_length=4000)]


class Leave(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="leave"):
    pass


class PublicMessage(msgspec.Struct, frozen=True, kw_only=True):
    """What the customer sees of a message: no agent id, no sentiment score."""

    id: str
    at: datetime
    author: str
    body: str


class History(msgspec.Struct, frozen=True, kw_only=True, tag="history"):
    """The conversation so far (sent after start or resume)."""

    state: str
    agent: bool  # an agent has taken the chat
    messages: list[PublicMessage]


class MessageFrame(msgspec.Struct, frozen=True, kw_only=True, tag="message"):
    message: PublicMessage


class StateFrame(msgspec.Struct, frozen=True, kw_only=True, tag="state"):
    state: str
    agent: bool


class TypingFrame(msgspec.Struct, frozen=True, kw_only=True, tag="typing"):
    """The agent is typing."""


class ErrorFrame(msgspec.Struct, frozen=True, kw_only=True, tag="error"):
    reason: str


CHAT_MESSAGES = (
    (ChatStart, ChatResume, Written, Leave),
    (ChatSession, History, MessageFrame, StateFrame, TypingFrame, ErrorFrame),
)


class _Event(msgspec.Struct):
    data: msgspec.Raw


class _Task(msgspec.Struct):
    state: str
    agent_id: str | None = None


_FIRST = msgspec.json.Decoder(ChatStart | ChatResume)
_LATER = msgspec.json.Decoder(Written | Leave)
_EVENT = msgspec.json.Decoder(_Event)
_MESSAGE = msgspec.json.Decoder(PublicMessage)
_TASK = msgspec.json.Decoder(_Task)
_ENCODER = msgspec.json.Encoder()
_TYPING = _ENCODER.encode(TypingFrame()).decode()


class ChatHub:
    """This instance's chat sockets by task, fed from one bus subscription."""

    def __init__(self, bus: EventBus) -> None:
        self._sockets: dict[str, set[asyncio.Queue[str]]] = defaultdict(set)
        self._unsubscribe = bus.subscribe(self.deliver, start_over=lambda: None)
        self.starts: dict[str, list[float]] = defaultdict(list)

    def close(self) -> None:
        self._unsubscribe()

    def add(self, task_id: str, outbox: asyncio.Queue[str]) -> None:
        self._sockets[task_id].add(outbox)

    def discard(self, task_id: str, outbox: asyncio.Queue[str]) -> None:
        self._sockets[task_id].discard(outbox)
        if not self._sockets[task_id]:
            del self._sockets[task_id]

    def deliver(self, header: Delivered, text: str) -> None:
        if header.type not in FORWARDED or header.call_id not in self._sockets:
            return
        frame = _public(header.type, text)
        for outbox in self._sockets[header.call_id]:
            if outbox.full():
                continue  # a window this far behind reloads the history when it reconnects
            outbox.put_nowait(frame)

    def may_start(self, address: str, now: float) -> bool:
        recent = [t for t in self.starts[address] if now - t < 60]
        self.starts[address] = recent
        if len(recent) >= STARTS_PER_MINUTE:
            return False
        recent.append(now)
        return True


def _public(kind: str, text: str) -> str:
    data = _EVENT.decode(text).data
    if kind == "task.message":
        return _ENCODER.encode(MessageFrame(message=_MESSAGE.decode(data))).decode()
    if kind == "task.typing":
        return _TYPING
    task = _TASK.decode(data)
    return _ENCODER.encode(StateFrame(state=task.state, agent=task.agent_id is not None)).decode()


async def chat_hub(app: web.Application) -> AsyncIterator[None]:
    hub = ChatHub(app[BUS])
    app[CHAT_HUB] = hub
    yield
    hub.close()


async def chat_socket(request: web.Request) -> web.WebSocketResponse:
    socket = web.WebSocketResponse(max_msg_size=MAX_FRAME, heartbeat=20.0)
    if not socket.can_prepare(request).ok:
        raise web.HTTPUpgradeRequired(text="this is a websocket: connect with Upgrade")
    await socket.prepare(request)
    app = request.app
    rejected = app[METRICS].chat_rejections_total
    try:
        task_id = await _open(request, socket)
    except _Refused as refused:
        rejected.labels(refused.reason).inc()
        await socket.close(code=refused.code, message=refused.message.encode()[:120])
        return socket
    hub = app[CHAT_HUB]
    outbox: asyncio.Queue[str] = asyncio.Queue(OUTBOX)
    hub.add(task_id, outbox)  # before the history: nothing falls between the two
    writer: asyncio.Task[None] | None = None
    try:
        await _history(request, socket, task_id)
        writer = asyncio.create_task(_write(socket, outbox))  # what came meanwhile follows
        await _read(request, socket, task_id)
    finally:
        hub.discard(task_id, outbox)
        if writer is not None:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
    return socket


class _Refused(Exception):
    def __init__(self, reason: str, message: str, code: int = WSCloseCode.POLICY_VIOLATION) -> None:
        super().__init__(message)
        self.reason, self.message, self.code = reason, message, code


async def _open(request: web.Request, socket: web.WebSocketResponse) -> str:
    """Start or resume from the first message: the task id (the session sent)."""
    try:
        first = await socket.receive(timeout=FIRST_MESSAGE_SECONDS)
    except TimeoutError:
        raise _Refused("no_start", "send start or resume first") from None
    if first.type is not WSMsgType.TEXT:
        raise _Refused("bad_start", "the first message must be start or resume (JSON text)")
    try:
        opening = _FIRST.decode(first.data)
    except msgspec.ValidationError as error:
        raise _Refused("bad_start", f"start or resume: {error}") from None
    except msgspec.DecodeError:
        raise _Refused("bad_start", "the first message is not JSON") from None
    sessions = request.app[SERVICES].chat
    if isinstance(opening, ChatResume):
        try:
            return sessions.verify(opening.token)
        except Unauthorized as error:
            raise _Refused("bad_token", str(error), CLOSE_UNAUTHORIZED) from None
    address = request.remote or "unknown"
    if not request.app[CHAT_HUB].may_start(address, time.monotonic()):
        raise _Refused("too_many_chats", "too many new chats from here; try again in a minute")
    try:
        session = await sessions.start(opening)
    except CallcenterError as error:
        raise _Refused("bad_start", str(error)) from None
    await socket.send_str(_ENCODER.encode(session).decode())
    return session.task_id


async def _history(request: web.Request, socket: web.WebSocketResponse, task_id: str) -> None:
    task, messages = await request.app[SERVICES].chat.conversation(task_id)
    frame = {
        "type": "history",
        "state": str(task.state),
        "agent": task.agent_id is not None,
        "messages": [
            PublicMessage(id=m.id, at=m.at, author=str(m.author), body=m.body) for m in messages
        ],
    }
    await socket.send_str(_ENCODER.encode(frame).decode())


async def _write(socket: web.WebSocketResponse, outbox: asyncio.Queue[str]) -> None:
    while True:
        frame = await outbox.get()
        await socket.send_str(frame)


async def _read(request: web.Request, socket: web.WebSocketResponse, task_id: str) -> None:
    sessions = request.app[SERVICES].chat
    rejected = request.app[METRICS].chat_rejections_total
    allowance, last = BURST, time.monotonic()
    async for frame in socket:
        if frame.type is not WSMsgType.TEXT:
            break
        now = time.monotonic()
        allowance, last = min(BURST, allowance + (now - last) * RATE), now
        if allowance < 1:
            rejected.labels("rate").inc()
            await _error(socket, "slow down: at most five messages a second")
            continue
        allowance -= 1
        try:
            said = _LATER.decode(frame.data)
            if isinstance(said, Leave):
                await sessions.leave(task_id)
                await socket.close(code=WSCloseCode.OK, message=b"left the chat")
                break
            await sessions.write(task_id, said.body)
        except (msgspec.ValidationError, msgspec.DecodeError) as error:
            rejected.labels("bad_message").inc()
            await _error(socket, f"not a message: {error}")
        except CallcenterError as error:
            rejected.labels("refused").inc()
            await _error(socket, str(error))


async def _error(socket: web.WebSocketResponse, reason: str) -> None:
    await socket.send_str(_ENCODER.encode(ErrorFrame(reason=reason)).decode())
