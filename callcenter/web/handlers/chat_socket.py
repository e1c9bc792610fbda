"""`/ws/chat`: the customer's side of a web chat (messages in `chat_protocol`).

1. The first message, within 5 s, is `{"type": "auth", "token"}` with the session token of
   `POST /v1/chat/sessions`. A missing, bad or expired token gets an error frame and close
   code 4401, a chat that is gone 4404.
2. The server sends `history` (the conversation so far, the chat's state and its agent's
   name), then, live, the chat's `message`, `state` and agent `typing` frames. A reconnect
   gets the history again: nothing is lost, and the client drops messages it has (by id).
3. The customer sends `message` (`body` up to 4,000 characters), `typing` and `leave`.

Limits, each refusal counted in `callcenter_chat_rejections_total{reason}`: frames up to
32 K characters, five messages a second (bursts of ten) per socket. A refused frame gets
`{"type": "error", "reason"}` and the chat goes on; twenty refused for speed in a row close
the socket (1008), and a socket too far behind is closed (1013) to reconnect."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import msgspec
from aiohttp import WSCloseCode, WSMessage, WSMsgType, web

from callcenter.domain.flood import FloodGuard
from callcenter.domain.messages import MAX_BODY_CHARS
from callcenter.errors import CallcenterError, NotFound, Unauthorized
from callcenter.web.close_codes import CLOSE_NOT_FOUND, CLOSE_UNAUTHORIZED
from callcenter.web.handlers.chat_hub import Control, Outgoing, StateSeen, joined
from callcenter.web.handlers.chat_protocol import (
    ENCODER,
    FIRST,
    LATER,
    CustomerTyping,
    ErrorFrame,
    History,
    Leave,
    PublicMessage,
    StateFrame,
    Written,
)
from callcenter.web.state import CHAT_HUB, LIVE_SOCKETS, METRICS, SERVICES

logger = logging.getLogger(__name__)

FIRST_MESSAGE_SECONDS = 5.0
MAX_FRAME = 32 * 1024  # characters: room for 4,000 however they are escaped
HARD_FRAME = 4 * MAX_FRAME  # bytes: past this aiohttp closes the socket itself (1009)
RATE, BURST = 5.0, 10.0  # messages per second, per socket
MAX_STRIKES = 20  # frames refused for speed in a row before the socket is closed
OUTBOX = 256  # frames waiting for one socket before it is too far behind


class _Refused(Exception):
    def __init__(self, reason: str, message: str, code: int) -> None:
        super().__init__(message)
        self.reason, self.message, self.code = reason, message, code


class ChatSocket:
    """One customer's chat socket: a reader (this request's task) and a writer that sends
    everything, in order, from the outbox the hub and the reader fill."""

    def __init__(self, request: web.Request) -> None:
        self._request = request
        self._sessions = request.app[SERVICES].chat
        self._rejected = request.app[METRICS].chat_rejections_total
        self._socket = web.WebSocketResponse(max_msg_size=HARD_FRAME, heartbeat=20.0)
        self._outbox: asyncio.Queue[Outgoing] = asyncio.Queue(OUTBOX)
        self._behind = False
        self._task_id = ""
        self._shown: tuple[str, str | None] | None = None  # the state and agent last sent
        self._version = -1  # of the chat as last sent
        self._names: dict[str, str | None] = {}

    async def run(self) -> web.WebSocketResponse:
        socket, app = self._socket, self._request.app
        if not socket.can_prepare(self._request).ok:
            raise web.HTTPUpgradeRequired(text="this is a websocket: connect with Upgrade")
        await socket.prepare(self._request)
        app[LIVE_SOCKETS].add(socket)  # closed with 1001 on shutdown
        try:
            self._task_id = await self._authenticate()
        except _Refused as refused:
            await self._refuse(refused)
            return socket
        hub = app[CHAT_HUB]
        hub.add(self._task_id, self)
        self.push(Control.HISTORY)  # before anything the hub hands over from now on
        writer = asyncio.create_task(self._write(), name="chat-writer")
        try:
            await self._read()
        finally:
            hub.discard(self._task_id, self)
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            await socket.close()
        return socket

    def push(self, item: Outgoing) -> None:
        """Queue a frame (the hub's, or the reader's); never blocks."""
        if self._behind:
            return
        try:
            self._outbox.put_nowait(item)
        except asyncio.QueueFull:
            self._behind = True
            self._rejected.labels("behind").inc()
            while not self._outbox.empty():
                self._outbox.get_nowait()
            self._outbox.put_nowait(Control.BEHIND)

    # the first message

    async def _authenticate(self) -> str:
        """The task the session token names. Raises _Refused."""
        try:
            first = await self._socket.receive(timeout=FIRST_MESSAGE_SECONDS)
        except TimeoutError:
            raise _Refused("no_auth", "no auth message in 5 s", CLOSE_UNAUTHORIZED) from None
        if first.type is not WSMsgType.TEXT:
            raise _Refused("no_auth", "the first message is auth (JSON text)", CLOSE_UNAUTHORIZED)
        try:
            token = FIRST.decode(first.data).token
        except (msgspec.ValidationError, msgspec.DecodeError) as error:
            message = f"the first message is auth: {error}"
            raise _Refused("no_auth", message, CLOSE_UNAUTHORIZED) from None
        try:
            return self._sessions.verify(token)
        except Unauthorized as error:
            raise _Refused("bad_token", str(error), CLOSE_UNAUTHORIZED) from None

    async def _refuse(self, refused: _Refused) -> None:
        self._rejected.labels(refused.reason).inc()
        with contextlib.suppress(ConnectionError):
            await self._socket.send_str(_error(refused.message))
        await self._socket.close(code=refused.code, message=refused.message.encode()[:120])

    # server → client

    async def _write(self) -> None:
        """Send the outbox until the socket closes (a task boundary: a failure is logged,
        counted, and closes the socket with 1011 so the client reconnects)."""
        try:
            while not self._socket.closed:
                item = await self._outbox.get()
                if item is Control.BEHIND:
                    await self._socket.close(
                        code=WSCloseCode.TRY_AGAIN_LATER, message=b"too far behind: reconnect"
                    )
                    return
                frame = await self._frame(item)
                if frame is not None:
                    await self._socket.send_str(frame)
        except NotFound:
            gone = f"chat {self._task_id} is gone: start a new one"
            await self._refuse(_Refused("chat_gone", gone, CLOSE_NOT_FOUND))
        except ConnectionError:
            pass  # the customer went away
        except Exception:
            logger.exception("chat socket failed", extra={"call_id": self._task_id})
            self._request.app[METRICS].task_errors_total.labels("chat_socket").inc()
            await self._socket.close(code=WSCloseCode.INTERNAL_ERROR, message=b"server error")

    async def _frame(self, item: Outgoing) -> str | None:
        """The text of a frame (None: nothing worth sending)."""
        if isinstance(item, str):
            return item
        if item is Control.HISTORY:
            return await self._history()
        assert isinstance(item, StateSeen)
        if item.version <= self._version:
            return None  # older than what the customer has
        agent = await self._agent_name(item.agent_id)
        return self._state(item.state, agent, item.version)

    async def _history(self) -> str:
        task, messages = await self._sessions.conversation(self._task_id)
        agent = await self._agent_name(joined(str(task.state), task.agent_id))
        self._state(str(task.state), agent, task.version)
        history = History(
            state=str(task.state),
            agent=agent,
            messages=[
                PublicMessage(id=m.id, at=m.at, author=str(m.author), body=m.body) for m in messages
            ],
        )
        return ENCODER.encode(history).decode()

    def _state(self, state: str, agent: str | None, version: int) -> str | None:
        """A state frame if the customer has not seen this state and agent yet."""
        self._version = max(self._version, version)
        if (state, agent) == self._shown:
            return None
        self._shown = (state, agent)
        return ENCODER.encode(StateFrame(state=state, agent=agent)).decode()

    async def _agent_name(self, agent_id: str | None) -> str | None:
        if agent_id is None:
            return None
        if agent_id not in self._names:
            self._names[agent_id] = await self._sessions.agent_name(agent_id)
        return self._names[agent_id] or "An agent"

    # client → server

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        flood = FloodGuard(RATE, BURST, loop.time())
        strikes = 0
        async for frame in self._socket:
            if frame.type is WSMsgType.ERROR:  # over HARD_FRAME: aiohttp closed with 1009
                self._rejected.labels("too_big").inc()
                return
            if not flood.allow(loop.time()):
                strikes += 1
                if strikes > MAX_STRIKES:
                    self._rejected.labels("flood").inc()
                    await self._socket.close(
                        code=WSCloseCode.POLICY_VIOLATION, message=b"too many messages"
                    )
                    return
                self._reject("rate", f"slow down: at most {RATE:g} messages a second")
                continue
            strikes = 0
            if not await self._take(frame):
                return

    async def _take(self, frame: WSMessage) -> bool:
        """Act on one frame from the customer; False once the customer left."""
        if frame.type is not WSMsgType.TEXT:
            self._reject("bad_message", "only JSON text frames are understood")
            return True
        if len(frame.data) > MAX_FRAME:
            self._reject("too_big", f"a frame is at most {MAX_FRAME} characters")
            return True
        try:
            said = LATER.decode(frame.data)
        except (msgspec.ValidationError, msgspec.DecodeError) as error:
            self._reject("bad_message", f"not a chat message: {error}")
            return True
        try:
            return await self._act(said)
        except CallcenterError as error:
            self._reject("refused", str(error))
            return True

    async def _act(self, said: Written | CustomerTyping | Leave) -> bool:
        if isinstance(said, Written):
            if len(said.body) > MAX_BODY_CHARS:
                self._reject(
                    "too_long",
                    f"a message is at most {MAX_BODY_CHARS} characters (this one has "
                    f"{len(said.body)})",
                )
            else:
                await self._sessions.write(self._task_id, said.body)
            return True
        if isinstance(said, CustomerTyping):
            await self._sessions.customer_typing(self._task_id)
            return True
        await self._sessions.leave(self._task_id)
        await self._socket.close(code=WSCloseCode.OK, message=b"you left the chat")
        return False

    def _reject(self, reason: str, message: str) -> None:
        self._rejected.labels(reason).inc()
        self.push(_error(message))


def _error(reason: str) -> str:
    return ENCODER.encode(ErrorFrame(reason=reason[:300])).decode()


async def chat_socket(request: web.Request) -> web.WebSocketResponse:
    return await ChatSocket(request).run()
