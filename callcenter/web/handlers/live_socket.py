"""The live websockets `/ws/wallboard` and `/ws/agent`: one hub per instance fans the bus
out to every page it holds; each socket authenticates, snapshots or replays, then follows.

Protocol (JSON text frames):
1. The client's first message, within 5 s:
   `{"type": "auth", "token": "...", "since": N|null, "epoch": "..."|null}`
   (browsers cannot set headers on a websocket; a token in the URL would reach logs). A bad
   token gets an `error` frame and close code 4401, a wrong role 4403.
2. Then either the events after `since` from the bus log (a reconnecting client that was
   gone briefly), or a `snapshot` carrying the bus sequence number it is as recent as; then
   every bus event as published (`{"seq", "type", "at", "call_id"?, "agent_id"?, "queue"?,
   "data"}`); events that come close together arrive as one frame holding a JSON array of
   them, in order. A client applies an event only if its `seq` is above the last it applied;
   deltas are whole documents with versions, so an event also seen in a snapshot is harmless.
   `{"type": "resync"}` then a snapshot: the client fell behind, or the bus started a new
   epoch (its sequence went back: Redis flushed, restored or failed over), and starts over.
   Sequence numbers compare only within an epoch: a snapshot names its `epoch`, and a
   client resuming from another epoch gets a snapshot.
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
from typing import Any

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from callcenter.domain.auth import Principal, permit
from callcenter.domain.flood import FloodGuard
from callcenter.errors import CallcenterError, Forbidden, InvalidInput, NotFound, Unauthorized
from callcenter.services.bus import Delivered, tag_of
from callcenter.services.live_events import (
    CallUpdated,
    MoodChanged,
    TranscriptFinal,
    TranscriptPartial,
)
from callcenter.web.authorization import OPERATION
from callcenter.web.close_codes import CLOSE_FORBIDDEN, CLOSE_UNAUTHORIZED
from callcenter.web.handlers.live_hub import hub_of
from callcenter.web.handlers.live_protocol import (
    AckAlert,
    Auth,
    Ping,
    Pong,
    Resync,
    SocketError,
    Watch,
    WatchedTranscript,
)
from callcenter.web.state import BUS, LIVE_SOCKETS, SERVICES, TOKEN_SESSIONS

logger = logging.getLogger(__name__)

AUTH_SECONDS = 5.0
MAX_CLIENT_MESSAGE = 4096
CLIENT_RATE = 20.0  # messages per second a page may send on average
CLIENT_BURST = 60.0
REPLAY_LIMIT = 5_000
AGENT_CALL_TYPES = frozenset(
    tag_of(kind) for kind in (CallUpdated, TranscriptFinal, TranscriptPartial, MoodChanged)
)

MAX_OUTBOX = 5_000  # events waiting for one page before it must start over
SLOW_PAGE_BYTES = 1 << 20  # unsent bytes after which a page gets nothing more for now


_AUTH = msgspec.json.Decoder(Auth)
_WALLBOARD = msgspec.json.Decoder(Watch | AckAlert | Ping)
_AGENT = msgspec.json.Decoder(Ping)
_ENCODER = msgspec.json.Encoder()


class LiveSocket:
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
        self._token = ""  # what the viewer authenticated with: checked again while open
        self._watching: str | None = None
        self._own_calls: set[str] = set()
        self._last_seq = 0
        self._epochs_seen = 0  # how many times the bus started over while we were open

    async def run(self) -> web.WebSocketResponse:
        socket = self._socket
        header = self._request.headers.get("Authorization")
        if not socket.can_prepare(self._request).ok:
            raise Unauthorized("a websocket: open it, then send an auth message")
        resume: tuple[int, str | None] | None = None
        if header is not None:
            # programs (not browsers) may authenticate the upgrade itself
            self._viewer = self._permitted(await self._app[SERVICES].auth.authenticate(header))
            self._token = header.partition(" ")[2].strip()
            since = _since(self._request.query.get("since"))
            resume = None if since is None else (since, self._request.query.get("epoch"))
        await socket.prepare(self._request)
        self._app[LIVE_SOCKETS].add(socket)
        if self._viewer is None:
            resume = await self._authenticate()
        if self._viewer is None:
            return socket
        hub = hub_of(self._app)
        hub.add(self)
        ended = self._app[TOKEN_SESSIONS].opened(self._token, self._revoked)
        try:
            await self._start(resume)
            await self._receive()
        except ConnectionError:
            pass  # the page went away
        finally:
            ended()
            hub.discard(self)
            if self._resyncing is not None:
                self._resyncing.cancel()
            await socket.close()
        return socket

    # authentication

    async def _authenticate(self) -> tuple[int, str | None] | None:
        """Sets `_viewer` (or closes the socket); where the client resumes from."""
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
        self._token = auth.token
        return None if auth.since is None else (auth.since, auth.epoch)

    def _permitted(self, viewer: Principal) -> Principal:
        """The viewer if the route table lets its role use this socket; raises Forbidden.
        (An agent granted its own things sees its own desk: the socket has no path.)"""
        permit(self._request[OPERATION].roles, viewer)
        return viewer

    async def _revoked(self) -> None:
        await self._refuse(CLOSE_UNAUTHORIZED, "unauthorized", "the token was revoked or expired")

    async def _refuse(self, code: int, kind: str, message: str) -> None:
        with contextlib.suppress(ConnectionError):
            await self._send(SocketError(code=kind, message=message))
        await self._socket.close(code=code, message=message.encode()[:120])

    # server → client

    async def _start(self, resume: tuple[int, str | None] | None) -> None:
        """The missed events or a snapshot; then the hub's flushes take over."""
        if resume is None or not await self._replay(*resume):
            await self._snapshot()
        if self._resyncing is None:  # else the resync's snapshot comes first
            self._ready = True
            hub_of(self._app).mark(self)

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

    def start_over(self) -> None:
        """The bus started a new epoch: drop what waits, resync from a snapshot."""
        self._epochs_seen += 1
        self._outbox.clear()
        self._last_seq = 0
        self._ready = False
        if self._resyncing is None:
            self._resyncing = asyncio.get_running_loop().create_task(self._resync())

    async def _resync(self) -> None:
        try:
            await self._send(Resync())
            while not await self._snapshot():
                pass  # the bus started over again meanwhile
            self._ready = True
            hub_of(self._app).mark(self)
        except ConnectionError:
            pass
        finally:
            self._resyncing = None

    async def _replayable(self, since: int, epoch: str | None) -> bool:
        """Whether `since` is of the bus's epoch and the bus log still has all after it."""
        bus = self._app[BUS]
        if epoch is not None and epoch != bus.epoch:
            return False
        last = bus.last_seq or 0
        if since > last:
            return False
        oldest = await bus.oldest_seq()
        return since == last or (oldest is not None and oldest <= since + 1)

    async def _replay(self, since: int, epoch: str | None) -> bool:
        """Send what the client missed since `since`, if it can (`_replayable`)."""
        if not await self._replayable(since, epoch):
            return False
        missed = await self._app[BUS].since(since, REPLAY_LIMIT)
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

    async def _snapshot(self) -> bool:
        """Send a snapshot; False if the bus started a new epoch while it was being made
        (it is not sent: the resync's snapshot follows)."""
        assert self._viewer is not None
        epochs_seen = self._epochs_seen
        bus = self._app[BUS]
        seq, epoch = bus.last_seq or 0, bus.epoch
        live = self._app[SERVICES].live
        if self._wallboard:
            snapshot: Any = await live.wallboard(seq, epoch)
        else:
            assert self._viewer.agent_id is not None
            try:
                snapshot = await live.agent(self._viewer.agent_id, seq, epoch)
            except NotFound:
                await self._send(
                    SocketError(
                        code="unknown_agent",
                        message=f"agent {self._viewer.agent_id!r} is not registered",
                    )
                )
                await self._socket.close(code=CLOSE_FORBIDDEN, message=b"unknown agent")
                return True
            self._own_calls = {snapshot.call.id} if snapshot.call is not None else set()
        if epochs_seen != self._epochs_seen:
            return False
        self._last_seq = max(self._last_seq, seq)
        await self._send_raw(_ENCODER.encode(snapshot).decode())
        return True

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
            await self._send(Pong())
            return
        command = _WALLBOARD.decode(text)
        if isinstance(command, Ping):
            await self._send(Pong())
        elif isinstance(command, Watch):
            self._watching = command.call_id
            if command.call_id is not None:
                live = self._app[SERVICES].live
                utterances = await live.transcript(command.call_id)
                await self._send(WatchedTranscript(call_id=command.call_id, utterances=utterances))
        else:
            assert self._viewer is not None
            await self._app[SERVICES].live.acknowledge(command.alert_id, self._viewer.role)

    async def _error(self, message: str) -> None:
        await self._send(SocketError(code="bad_message", message=message[:300]))


def _since(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or len(text) > 18:
        raise InvalidInput("since must be a sequence number", "/since")
    return int(text)
