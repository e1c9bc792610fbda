"""A chat customer's window, as the web chat widget runs it: open the chat with
`POST /v1/chat/sessions` (no credentials), follow it on `/ws/chat` with the session token,
write and leave over the socket, and reconnect with the same token when the socket drops
(the server sends the history again; messages already seen are known by id).

A message written counts once the server echoes it on the socket (it was taken and
published); an error frame instead refuses the oldest message not yet echoed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import aiohttp

from callcenter.simulate.api import ServerApi, ServerRefused

logger = logging.getLogger(__name__)

LEFT = 1000  # the server's close code once the customer left
FINAL = frozenset({LEFT, 4401, 4404})  # no point reconnecting
RECONNECTS = 5
ANSWER_SECONDS = 10.0  # for the echo of a message, or the close after leaving
GRACE_SECONDS = 2.0  # for the end of a chat its agent resolved


class ChatWindow:
    def __init__(
        self, api: ServerApi, *, clock: Callable[[], float], changed: Callable[[], None]
    ) -> None:
        """`changed` is called whenever the window learns something (a reply, the end)."""
        self._api = api
        self._clock = clock
        self._changed = changed
        self.task_id = ""
        self._token = ""
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._seen: set[str] = set()
        self._pending: deque[tuple[str, asyncio.Future[str | None]]] = deque()
        self._left: asyncio.Future[bool] | None = None
        self.replies_seen: list[float] = []  # when each agent reply reached the window
        self.ended = False  # the chat is over for this window
        self.saw_end = False  # ... and the server said so on the socket (after every reply)
        self._over = asyncio.Event()  # set with `ended`

    async def open(self, fields: dict[str, Any]) -> str:
        """Open the chat (`fields`: the session's); returns its task id once the socket is
        following it. Raises ServerRefused (a 429: too many chats from this address for the
        server's CALLCENTER_CHAT_SESSIONS_PER_MINUTE), ServerUnreachable."""
        _, session = await self._api.request(
            "POST",
            "/v1/chat/sessions",
            json=fields,
            anonymous=True,
            ok=(201,),
            what="opening a chat",
        )
        self.task_id, self._token = str(session["task_id"]), str(session["token"])
        try:
            await self._connect()
        except (aiohttp.ClientError, OSError) as error:
            raise ServerRefused(f"{self.task_id}: the chat socket", 0, str(error)) from None
        self._reader = asyncio.create_task(self._follow(), name=f"chat-window-{self.task_id}")
        return self.task_id

    async def write(self, body: str) -> str | None:
        """Type and send a message; None once the server echoed it, else why it refused.
        Raises ServerRefused when neither came (the message is lost)."""
        if self.ended or self._socket is None or self._socket.closed:
            return "the chat is over"
        answer: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._pending.append((body, answer))
        await self._send({"type": "typing"})
        await self._send({"type": "message", "body": body})
        try:
            return await asyncio.wait_for(asyncio.shield(answer), ANSWER_SECONDS)
        except TimeoutError:
            lost = f"no echo of the message within {ANSWER_SECONDS:g} s"
            raise ServerRefused(f"{self.task_id}: the chat socket", 0, lost) from None

    async def leave(self) -> bool:
        """End the chat as the customer; True when the server closed it for us."""
        if self.ended or self._socket is None or self._socket.closed:
            return False
        self._left = asyncio.get_running_loop().create_future()
        await self._send({"type": "leave"})
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(asyncio.shield(self._left), ANSWER_SECONDS)
        return False

    async def close(self) -> None:
        """Close the window (the socket, and stop following), once the chat is over, or
        after a grace for the server to say so."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._over.wait(), GRACE_SECONDS)
        self.ended = True
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._socket is not None:
            await self._socket.close()
        self._settle("the window closed")

    async def _connect(self) -> None:
        self._socket = await self._api.session.ws_connect(self._api.url("/ws/chat"))
        await self._socket.send_json({"type": "auth", "token": self._token})

    async def _send(self, frame: dict[str, Any]) -> None:
        assert self._socket is not None
        with contextlib.suppress(ConnectionError):
            await self._socket.send_json(frame)

    async def _follow(self) -> None:
        """Read the socket; reconnect when it drops, unless the chat is over."""
        drops = 0
        while (code := await self._read()) not in FINAL and not self.ended:
            drops += 1
            if drops > RECONNECTS:
                break
            await asyncio.sleep(0.2 * drops)
            try:
                await self._connect()
            except (aiohttp.ClientError, OSError):
                break
        if self._left is not None and not self._left.done():
            self._left.set_result(code == LEFT)
        self.ended = True
        self._over.set()
        self._settle("the chat socket closed")
        self._changed()

    async def _read(self) -> int:
        """Take the socket's frames until it closes; its close code."""
        assert self._socket is not None
        async for message in self._socket:
            if message.type is aiohttp.WSMsgType.TEXT:
                self._take(json.loads(message.data))
        return self._socket.close_code or 0

    def _take(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "history":
            for message in frame["messages"]:
                self._message(message)
        elif kind == "message":
            self._message(frame["message"])
        elif kind == "state" and frame["state"] == "ended":
            self.ended = self.saw_end = True
            self._over.set()
            self._changed()
        elif kind == "error" and self._pending:
            self._pending.popleft()[1].set_result(str(frame["reason"]))

    def _message(self, message: dict[str, Any]) -> None:
        """A message live, or in a history (after a reconnect: the ones missed)."""
        if message["id"] in self._seen:
            return
        self._seen.add(message["id"])
        if message["author"] == "agent":
            self.replies_seen.append(self._clock())
            self._changed()
        elif self._pending and self._pending[0][0] == message["body"]:
            self._pending.popleft()[1].set_result(None)

    def _settle(self, reason: str) -> None:
        while self._pending:
            answer = self._pending.popleft()[1]
            if not answer.done():
                answer.set_result(reason)
