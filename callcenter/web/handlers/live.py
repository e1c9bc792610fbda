"""The live pages: `/wallboard` and `/agent` (static HTML), their websockets, and the
supervisor's alert endpoints.

Websocket protocol (JSON text frames):
1. The client's first message, within 5 s: `{"type": "auth", "token": "...", "since": N|null}`
   (browsers cannot set headers on a websocket; a token in the URL would reach logs). A bad
   token gets an `error` frame and close code 4401, a wrong role 4403.
2. Then either the events after `since` from the bus log (a reconnecting client that was
   gone briefly), or a `snapshot` carrying the bus sequence number it is as recent as; then
   every bus event as published (`{"seq", "type", "at", "call_id"?, "agent_id"?, "queue"?,
   "data"}`); events that come close together arrive as one frame holding a JSON array of
   them, in order. A client applies an event only if its `seq` is above the last it applied;
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
from callcenter.services.bus import Delivered, EventBus
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

FLUSH_SECONDS = 0.025  # events wait at most this long for the next frame to their page
MAX_OUTBOX = 5_000  # events waiting for one page before it must start over
SLOW_PAGE_BYTES = 1 << 20  # unsent bytes after which a page gets nothing more for now

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
    app[HUB] = _HubSlot()

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


class _Hub:
    """The live sockets of this instance and one flusher for all of them: events from the
    bus are sorted into each page's outbox as they arrive, and every FLUSH_SECONDS each
    page with something waiting gets it in one frame (one write instead of one per event)."""

    def __init__(self, bus: EventBus) -> None:
        self._sockets: set[_LiveSocket] = set()
        self._pending: set[_LiveSocket] = set()
        self._flushing: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        bus.subscribe(self.deliver)

    def add(self, socket: _LiveSocket) -> None:
        self._sockets.add(socket)

    def discard(self, socket: _LiveSocket) -> None:
        self._sockets.discard(socket)
        self._pending.discard(socket)

    def deliver(self, header: Delivered, text: str) -> None:
        for socket in self._sockets:
            if socket.take(header, text):
                self._pending.add(socket)
        self._schedule()

    def mark(self, socket: _LiveSocket) -> None:
        """The socket has something to send (its snapshot went out meanwhile)."""
        self._pending.add(socket)
        self._schedule()

    def _schedule(self) -> None:
        if self._pending and self._timer is None and self._flushing is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self._flush)

    def _flush(self) -> None:
        self._timer = None
        pending, self._pending = self._pending, set()
        self._flushing = asyncio.get_running_loop().create_task(self._send(pending))

    async def _send(self, pending: set[_LiveSocket]) -> None:
        try:
            for socket in pending:
                try:
                    await socket.flush()
                except ConnectionError:
                    self.discard(socket)  # closing: its receive loop ends it
        finally:
            self._flushing = None
            self._schedule()


class _HubSlot:
    """Where the hub is made on first use (the bus exists only once the app runs)."""

    hub: _Hub | None = None


HUB = web.AppKey("live_hub", _HubSlot)


def _hub(app: web.Application) -> _Hub:
    slot = app[HUB]
    if slot.hub is None:
        slot.hub = _Hub(app[BUS])
    return slot.hub


class _LiveSocket:
    def __init__(self, request: web.Request, *, wallboard: bool) -> None:
        self._request = request
        self._app = request.app
        self._wallboard = wallboard
        # no compression: it would cost every page its own deflate of every batch
        self._socket = web.WebSocketResponse(
            max_msg_size=MAX_CLIENT_MESSAGE, heartbeat=20.0, compress=False
        )
        self._outbox: list[tuple[int, str]] = []  # (seq, event) waiting for the next flush
        self._ready = False  # the snapshot (or replay) went out: events may follow
        self._resyncing: asyncio.Task[None] | None = None
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
        hub = _hub(self._app)
        hub.add(self)
        try:
            await self._start(since)
            await self._receive()
        except ConnectionError:
            pass  # the page went away
        finally:
            hub.discard(self)
            if self._resyncing is not None:
                self._resyncing.cancel()
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

    async def _start(self, since: int | None) -> None:
        """The missed events or a snapshot; then the hub's flushes take over."""
        if since is None or not await self._replay(since):
            await self._snapshot()
        self._ready = True
        _hub(self._app).mark(self)

    def take(self, header: Delivered, text: str) -> bool:
        """The hub offers every bus event (on the loop); True if this page wants it."""
        if not self._wants(header):
            return False
        self._outbox.append((header.seq, text))
        if len(self._outbox) > MAX_OUTBOX and self._resyncing is None:
            # the page cannot keep up: start it over from a fresh snapshot
            self._outbox.clear()
            self._ready = False
            self._resyncing = asyncio.get_running_loop().create_task(self._resync())
            return False
        return True

    async def flush(self) -> None:
        """Send what is waiting as one frame: an event, or an array of events in order."""
        if not self._ready or not self._outbox:
            return
        transport = self._request.transport
        if transport is None or transport.get_write_buffer_size() > SLOW_PAGE_BYTES:
            return  # the page reads slowly: keep it waiting (until the outbox overflows)
        texts = []
        for seq, text in self._outbox:
            if seq > self._last_seq:
                self._last_seq = seq
                texts.append(text)
        self._outbox.clear()
        if texts:
            await self._send_raw(texts[0] if len(texts) == 1 else "[" + ",".join(texts) + "]")

    async def _resync(self) -> None:
        try:
            await self._send({"type": "resync"})
            await self._snapshot()
            self._ready = True
            _hub(self._app).mark(self)
        except ConnectionError:
            pass
        finally:
            self._resyncing = None

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
