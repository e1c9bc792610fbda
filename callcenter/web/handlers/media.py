"""Live audio websockets: Twilio Media Streams (`/media/twilio`) and L16 PCM (`/media/l16`:
FreeSWITCH mod_audio_fork, jambonz listen, Vonage, or the generic shape).

Frames go to the media hub. Bad input closes the socket with a close code and a reason
(1003 unsupported data, 1008 policy violation, 1009 too big); the call and the server go
on, and the leg is always closed."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable

from aiohttp import WSCloseCode, WSMessage, WSMsgType, web

from callcenter.domain.auth import RoleKind, require
from callcenter.domain.events import CallDtmf
from callcenter.errors import InvalidInput
from callcenter.media import l16
from callcenter.media.flood import FloodGuard
from callcenter.media.twilio_stream import TwilioStreamSession
from callcenter.web.handlers.twilio import signed_by_twilio
from callcenter.web.state import MEDIA, METRICS, SERVICES

logger = logging.getLogger(__name__)

MAX_TEXT_MESSAGE = 64 * 1024
MAX_BINARY_MESSAGE = 64 * 1024
RECEIVE_TIMEOUT_SECONDS = 30.0
# Real time is 50 messages a second per track (20 ms frames); allow 4x that, with bursts
# of 2 s worth (a gateway catching up after a network stall), then cut the socket off.
FLOOD_RATE = 400.0
FLOOD_BURST = 800.0

SOCKETS = web.AppKey[weakref.WeakSet[web.WebSocketResponse]]("media_sockets")
TASKS = web.AppKey[set[asyncio.Task[None]]]("media_tasks")


def setup_media_sockets(app: web.Application) -> None:
    """Track sockets and their side tasks; close them with 1001 on shutdown."""
    app[SOCKETS] = weakref.WeakSet()
    app[TASKS] = set()

    async def going_away(app: web.Application) -> None:
        sockets: weakref.WeakSet[web.WebSocketResponse] = app[SOCKETS]
        for socket in list(sockets):
            await socket.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
        await asyncio.gather(*app[TASKS], return_exceptions=True)

    app.on_shutdown.append(going_away)


def _reject(request: web.Request, dialect: str, reason: str) -> None:
    request.app[METRICS].media_rejections_total.labels(dialect, reason).inc()


def _dtmf_sender(request: web.Request) -> Callable[[CallDtmf], None]:
    app = request.app

    def send(event: CallDtmf) -> None:
        async def apply() -> None:
            try:
                await app[SERVICES].events.apply(event, dialect="twilio")
            except Exception:
                # task boundary: a digit that cannot be applied is logged, the stream goes on
                logger.exception("dtmf from a media stream not applied")
                app[METRICS].task_errors_total.labels("media_dtmf").inc()

        task = asyncio.get_running_loop().create_task(apply())
        app[TASKS].add(task)
        task.add_done_callback(app[TASKS].discard)

    return send


async def _open(request: web.Request, protocols: tuple[str, ...] = ()) -> web.WebSocketResponse:
    socket = web.WebSocketResponse(
        protocols=protocols,
        max_msg_size=max(MAX_TEXT_MESSAGE, MAX_BINARY_MESSAGE),
        receive_timeout=RECEIVE_TIMEOUT_SECONDS,
        heartbeat=None,
    )
    await socket.prepare(request)
    request.app[SOCKETS].add(socket)
    return socket


class _UnsupportedFrame(InvalidInput):
    """A frame of a kind the protocol does not use (closes with 1003, not 1008)."""


async def _serve(
    request: web.Request,
    socket: web.WebSocketResponse,
    dialect: str,
    handle: Callable[[WSMessage], None],
) -> None:
    """Feed each message to `handle` until the peer closes; a flood, a timeout or bad input
    (InvalidInput from `handle`) ends the socket with a close code and a reason."""
    loop = asyncio.get_running_loop()
    flood = FloodGuard(FLOOD_RATE, FLOOD_BURST, loop.time())
    try:
        async for message in socket:
            if not flood.allow(loop.time()):
                await _flooded(request, socket, dialect)
                return
            try:
                handle(message)
            except InvalidInput as error:
                unsupported = isinstance(error, _UnsupportedFrame)
                _reject(request, dialect, "unsupported" if unsupported else "invalid")
                code = WSCloseCode.UNSUPPORTED_DATA if unsupported else WSCloseCode.POLICY_VIOLATION
                await socket.close(code=code, message=_reason(error))
                return
    except TimeoutError:
        _reject(request, dialect, "timeout")


async def twilio_stream(request: web.Request) -> web.WebSocketResponse:
    # Twilio signs the websocket handshake like a webhook: the URL, no parameters.
    await signed_by_twilio(request, params=())
    socket = await _open(request)
    session = TwilioStreamSession(request.app[MEDIA], on_dtmf=_dtmf_sender(request))

    def handle(message: WSMessage) -> None:
        if message.type is not WSMsgType.TEXT:
            raise _UnsupportedFrame("text frames only")
        session.handle(message.data)

    try:
        await _serve(request, socket, "twilio", handle)
    finally:
        session.close()
    return socket


class _L16Socket:
    """One L16 websocket: a metadata text frame opens the leg, binary frames are audio."""

    def __init__(self, request: web.Request, socket: web.WebSocketResponse) -> None:
        self._hub = request.app[MEDIA]
        self._subprotocol = socket.ws_protocol
        self.stream: l16.L16Stream | None = None

    def handle(self, message: WSMessage) -> None:
        if message.type is WSMsgType.TEXT and self.stream is None:
            metadata = l16.decode_metadata(message.data, subprotocol=self._subprotocol)
            self.stream = l16.L16Stream(metadata)
            self._hub.open_leg(metadata.call_id, metadata.track, metadata.sample_rate)
        elif message.type is WSMsgType.BINARY and self.stream is not None:
            self._hub.frame(self.stream.frame(message.data))
        elif message.type is WSMsgType.BINARY:
            raise InvalidInput("audio before the metadata text frame")
        # later text frames (jambonz/Vonage control messages) are not audio: skip

    def close(self) -> None:
        if self.stream is not None:
            self._hub.close_leg(self.stream.metadata.call_id, self.stream.metadata.track)


async def l16_stream(request: web.Request) -> web.WebSocketResponse:
    # media servers send a gateway token as a bearer header or, where they cannot set
    # headers, as ?token=
    token = request.query.get("token")
    header = request.headers.get("Authorization") or (f"Bearer {token}" if token else None)
    require(await request.app[SERVICES].auth.authenticate(header), RoleKind.GATEWAY)
    socket = await _open(request, tuple(l16.SUBPROTOCOLS))
    session = _L16Socket(request, socket)
    try:
        await _serve(request, socket, "l16", session.handle)
    finally:
        session.close()
    return socket


async def _flooded(request: web.Request, socket: web.WebSocketResponse, dialect: str) -> None:
    _reject(request, dialect, "flood")
    await socket.close(
        code=WSCloseCode.POLICY_VIOLATION, message=b"messages arrive far faster than real time"
    )


def _reason(error: InvalidInput) -> bytes:
    # a close reason may hold at most 123 bytes
    return str(error).encode("utf-8")[:120]
