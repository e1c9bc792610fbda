"""The live pages: `/wallboard` and `/agent` (static HTML), their websockets, and the
supervisor's alert endpoints.

Websocket protocol (JSON text frames):
1. The client's first message, within 5 s: `{"type": "auth", "token": "...", "since": N|null}`
   (browsers cannot set headers on a websocket; a token in the URL would reach logs). A bad
   token gets an `error` frame and close code 4401, a wrong role 4403.
2. Then either the events after `since` from the bus log (a reconnecting client that was
   gone briefly), or a `snapshot` carrying the bus sequence number it is as recent as; then
   every bus event as published (`{"seq", "type", "at", "call_id"?, "agent_id"?, "queue"?,
   "data"}`). A client applies an event only if its `seq` is above the last it applied;
   deltas are whole documents with versions, so an event also seen in a snapshot is harmless.
   `{"type": "resync"}` then a snapshot: the client fell behind and starts over.
3. The wallboard sees everything except transcript partials, which come only for the call
   it watches (`{"type": "watch", "call_id": ...}`, answered with `{"type": "transcript"}`);
   `{"type": "ack", "alert_id": ...}` acknowledges an alert. An agent sees its own agent,
   offers and calls, and the transcript and mood of its calls.
4. A message the server cannot use gets `{"type": "error", "code": "bad_message"}`; the
   socket stays open (a flood closes it with 1008)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from importlib import resources
from typing import Annotated, Any, Literal

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from callcenter.domain.auth import Principal, RoleKind, require
from callcenter.errors import (
    CallcenterError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
)
from callcenter.media.flood import FloodGuard
from callcenter.services.bus import Delivered, Listener, Overflowed
from callcenter.services.live import AlertView
from callcenter.web.problem import json_response
from callcenter.web.requests import path_id, principal
from callcenter.web.state import BUS, SERVICES

logger = logging.getLogger(__name__)

AUTH_SECONDS = 5.0
MAX_CLIENT_MESSAGE = 4096
CLIENT_RATE = 20.0  # messages per second a page may send on average
CLIENT_BURST = 60.0
REPLAY_LIMIT = 5_000
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
AGENT_CALL_TYPES = frozenset(
    {"call.updated", "transcript.final", "transcript.partial", "call.mood"}
)

SOCKETS = web.AppKey[weakref.WeakSet[web.WebSocketResponse]]("live_sockets")
PAGES = web.AppKey[dict[str, str]]("live_pages")


class Auth(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    type: Literal["auth"]
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    since: Annotated[int, msgspec.Meta(ge=0)] | None = None


class Watch(msgspec.Struct, frozen=True, tag="watch", forbid_unknown_fields=True):
    call_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None


class AckAlert(msgspec.Struct, frozen=True, tag="ack", forbid_unknown_fields=True):
    alert_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class Ping(msgspec.Struct, frozen=True, tag="ping", forbid_unknown_fields=True):
    pass


_AUTH = msgspec.json.Decoder(Auth)
_WALLBOARD = msgspec.json.Decoder(Watch | AckAlert | Ping)
_AGENT = msgspec.json.Decoder(Ping)
_ENCODER = msgspec.json.Encoder()


def setup_live(app: web.Application) -> None:
    """The pages' HTML, and closing the live sockets with 1001 on shutdown."""
    static = resources.files("callcenter.web").joinpath("static")
    app[PAGES] = {
        name: static.joinpath(f"{name}.html").read_text()
        for name in ("wallboard", "agent")
        if static.joinpath(f"{name}.html").is_file()
    }
    app[SOCKETS] = weakref.WeakSet()

    async def going_away(app: web.Application) -> None:
        sockets: weakref.WeakSet[web.WebSocketResponse] = app[SOCKETS]
        for socket in list(sockets):
            await socket.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")

    app.on_shutdown.append(going_away)


async def wallboard_page(request: web.Request) -> web.Response:
    return _page(request, "wallboard")


async def agent_page(request: web.Request) -> web.Response:
    return _page(request, "agent")


def _page(request: web.Request, name: str) -> web.Response:
    page = request.app[PAGES].get(name)
    if page is None:
        raise NotFound("page", name)
    return web.Response(
        text=page,
        content_type="text/html",
        headers={"Cache-Control": "no-cache", "Referrer-Policy": "no-referrer"},
    )


class Alerts(msgspec.Struct, frozen=True):
    alerts: list[AlertView]


async def list_alerts(request: web.Request) -> web.Response:
    require(await principal(request), RoleKind.SUPERVISOR)
    return json_response(Alerts(await request.app[SERVICES].live.alerts(100)))


async def acknowledge_alert(request: web.Request) -> web.Response:
    viewer = await principal(request)
    require(viewer, RoleKind.SUPERVISOR)
    ack = await request.app[SERVICES].live.acknowledge(
        path_id(request, "alert_id", max_length=64), viewer.role
    )
    return json_response(ack)


async def wallboard_socket(request: web.Request) -> web.WebSocketResponse:
    return await _LiveSocket(request, wallboard=True).run()


async def agent_socket(request: web.Request) -> web.WebSocketResponse:
    return await _LiveSocket(request, wallboard=False).run()


class _LiveSocket:
    def __init__(self, request: web.Request, *, wallboard: bool) -> None:
        self._request = request
        self._app = request.app
        self._wallboard = wallboard
        self._socket = web.WebSocketResponse(max_msg_size=MAX_CLIENT_MESSAGE, heartbeat=20.0)
        self._send_lock = asyncio.Lock()
        self._viewer: Principal | None = None
        self._watching: str | None = None
        self._own_calls: set[str] = set()
        self._last_seq = 0

    async def run(self) -> web.WebSocketResponse:
        socket = self._socket
        header = self._request.headers.get("Authorization")
        if not socket.can_prepare(self._request).ok:
            raise Unauthorized("a websocket: open it, then send an auth message")
        since: int | None = None
        if header is not None:
            # programs (not browsers) may authenticate the upgrade itself
            self._viewer = self._permitted(await self._app[SERVICES].auth.authenticate(header))
            since = _since(self._request.query.get("since"))
        await socket.prepare(self._request)
        self._app[SOCKETS].add(socket)
        if self._viewer is None:
            since = await self._authenticate()
        if self._viewer is None:
            return socket
        listener = self._app[BUS].listen()
        sender = asyncio.create_task(self._forward(listener, since))
        try:
            await self._receive()
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            listener.close()
            await socket.close()
        return socket

    # authentication

    async def _authenticate(self) -> int | None:
        """Sets `_viewer` (or closes the socket); the client's `since`."""
        try:
            message = await self._socket.receive(timeout=AUTH_SECONDS)
        except TimeoutError:
            await self._refuse(CLOSE_UNAUTHORIZED, "unauthorized", "no auth message in 5 s")
            return None
        if message.type is not WSMsgType.TEXT:
            await self._refuse(CLOSE_UNAUTHORIZED, "unauthorized", "the first message is auth")
            return None
        try:
            auth = _AUTH.decode(message.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            await self._refuse(CLOSE_UNAUTHORIZED, "unauthorized", f"bad auth message: {error}")
            return None
        try:
            viewer = self._permitted(
                await self._app[SERVICES].auth.authenticate(f"Bearer {auth.token}")
            )
        except Unauthorized as error:
            await self._refuse(CLOSE_UNAUTHORIZED, "unauthorized", error.reason)
            return None
        except Forbidden as error:
            await self._refuse(CLOSE_FORBIDDEN, "forbidden", error.reason)
            return None
        self._viewer = viewer
        return auth.since

    def _permitted(self, viewer: Principal) -> Principal:
        """The viewer if its role may use this socket; raises Forbidden."""
        if self._wallboard:
            require(viewer, RoleKind.SUPERVISOR)
        elif viewer.kind is not RoleKind.AGENT or viewer.agent_id is None:
            raise Forbidden("the agent desktop needs an agent token")
        return viewer

    async def _refuse(self, code: int, kind: str, message: str) -> None:
        with contextlib.suppress(ConnectionError):
            await self._send({"type": "error", "code": kind, "message": message})
        await self._socket.close(code=code, message=message.encode()[:120])

    # server → client

    async def _forward(self, listener: Listener, since: int | None) -> None:
        try:
            if since is None or not await self._replay(since):
                await self._snapshot()
            while True:
                try:
                    header, raw = await listener.get()
                except Overflowed:
                    listener.close()
                    listener = self._app[BUS].listen()
                    await self._send({"type": "resync"})
                    await self._snapshot()
                    continue
                if header.seq > self._last_seq:
                    self._last_seq = header.seq
                    if self._wants(header):
                        await self._send_raw(raw)
        except ConnectionError:
            return  # the page went away: the receive loop ends too
        except Exception:
            logger.exception("live socket feed failed")
            await self._socket.close(code=WSCloseCode.INTERNAL_ERROR, message=b"feed failed")

    async def _replay(self, since: int) -> bool:
        """Send what the client missed since `since`, if the bus log still has all of it."""
        bus = self._app[BUS]
        oldest = await bus.oldest_seq()
        last = bus.last_seq or 0
        if since > last or (since < last and (oldest is None or oldest > since + 1)):
            return False
        missed = await bus.since(since, REPLAY_LIMIT)
        if len(missed) == REPLAY_LIMIT:
            return False
        self._last_seq = since
        decode = msgspec.json.Decoder(Delivered).decode
        for raw in missed:
            header = decode(raw)
            self._last_seq = header.seq
            if self._wants(header):
                await self._send_raw(raw.decode())
        return True

    async def _snapshot(self) -> None:
        assert self._viewer is not None
        seq = self._app[BUS].last_seq or 0
        live = self._app[SERVICES].live
        if self._wallboard:
            snapshot: Any = await live.wallboard(seq)
        else:
            assert self._viewer.agent_id is not None
            try:
                snapshot = await live.agent(self._viewer.agent_id, seq)
            except NotFound:
                await self._send(
                    {
                        "type": "error",
                        "code": "unknown_agent",
                        "message": f"agent {self._viewer.agent_id!r} is not registered",
                    }
                )
                await self._socket.close(code=CLOSE_FORBIDDEN, message=b"unknown agent")
                return
            self._own_calls = {snapshot.call.id} if snapshot.call is not None else set()
        self._last_seq = max(self._last_seq, seq)
        await self._send_raw(_ENCODER.encode(snapshot).decode())

    def _wants(self, header: Delivered) -> bool:
        if self._wallboard:
            return header.type != "transcript.partial" or header.call_id == self._watching
        viewer = self._viewer
        assert viewer is not None
        if header.agent_id == viewer.agent_id:
            if header.call_id is not None:
                self._own_calls.add(header.call_id)
            return True
        return header.type in AGENT_CALL_TYPES and header.call_id in self._own_calls

    async def _send(self, message: Any) -> None:
        await self._send_raw(_ENCODER.encode(message).decode())

    async def _send_raw(self, text: str) -> None:
        async with self._send_lock:
            if self._socket.closed:
                raise ConnectionResetError("socket closed")
            await self._socket.send_str(text)

    # client → server

    async def _receive(self) -> None:
        loop = asyncio.get_running_loop()
        flood = FloodGuard(CLIENT_RATE, CLIENT_BURST, loop.time())
        async for message in self._socket:
            if not flood.allow(loop.time()):
                await self._socket.close(
                    code=WSCloseCode.POLICY_VIOLATION, message=b"too many messages"
                )
                return
            if message.type is not WSMsgType.TEXT:
                await self._error("only JSON text messages are understood")
                continue
            try:
                await self._handle(message.data)
            except (msgspec.DecodeError, msgspec.ValidationError) as error:
                await self._error(str(error))
            except CallcenterError as error:
                await self._error(str(error))
            except ConnectionError:
                return

    async def _handle(self, text: str) -> None:
        if not self._wallboard:
            _AGENT.decode(text)
            await self._send({"type": "pong"})
            return
        command = _WALLBOARD.decode(text)
        if isinstance(command, Ping):
            await self._send({"type": "pong"})
        elif isinstance(command, Watch):
            self._watching = command.call_id
            if command.call_id is not None:
                live = self._app[SERVICES].live
                utterances = await live.transcript(command.call_id)
                await self._send(
                    {"type": "transcript", "call_id": command.call_id, "utterances": utterances}
                )
        else:
            assert self._viewer is not None
            await self._app[SERVICES].live.acknowledge(command.alert_id, self._viewer.role)

    async def _error(self, message: str) -> None:
        await self._send({"type": "error", "code": "bad_message", "message": message[:300]})


def _since(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or len(text) > 18:
        raise InvalidInput("since must be a sequence number", "/since")
    return int(text)
