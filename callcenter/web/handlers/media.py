"""Live audio websockets: Twilio Media Streams (`/media/twilio`) and L16 PCM (`/media/l16`:
FreeSWITCH mod_audio_fork, jambonz listen, Vonage, or the generic shape).

Frames go to the media hub. A Twilio stream is admitted at its `start` only when it is
bound to a live Twilio call of our account (gateways.twilio.stream_binding); every stream
is weighed against real time (media.flood.MediaGuard) and its frames are capped in size.
Bad input closes the socket with a close code and a reason (1003 unsupported data, 1008
policy violation, 1009 too big, 1011 storage unavailable), counted in
media_rejections_total; the call and the server go on, and the leg is always closed."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable

from aiohttp import WSCloseCode, WSMessage, WSMsgType, web

from callcenter.domain.calls import ACTIVE_STATES, Call
from callcenter.domain.events import CallDtmf
from callcenter.errors import InvalidInput, NotFound, StorageUnavailable
from callcenter.gateways.twilio.stream_binding import StreamBindingInvalid, bound_call_id
from callcenter.media import l16
from callcenter.media.flood import MediaGuard, audio_seconds
from callcenter.media.refusals import MediaRefused, Refusal
from callcenter.media.twilio_stream import Admission, StartMetadata, TwilioStreamSession
from callcenter.web.authorization import bearer_header
from callcenter.web.close_codes import CLOSE_UNAUTHORIZED
from callcenter.web.handlers.twilio import DIALECT as TWILIO_DIALECT
from callcenter.web.handlers.twilio import signed_by_twilio
from callcenter.web.operation import Credentials
from callcenter.web.state import (
    CLOCK,
    MEDIA,
    METRICS,
    SERVICES,
    SETTINGS,
    TOKEN_SESSIONS,
    Services,
)

logger = logging.getLogger(__name__)

MAX_TEXT_MESSAGE = 64 * 1024
MAX_BINARY_MESSAGE = 64 * 1024
RECEIVE_TIMEOUT_SECONDS = 30.0

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


def _guard() -> MediaGuard:
    return MediaGuard(asyncio.get_running_loop().time)


async def _serve(
    request: web.Request,
    socket: web.WebSocketResponse,
    dialect: str,
    guard: MediaGuard,
    handle: Callable[[WSMessage], Awaitable[None]],
) -> None:
    """Feed each message to `handle` until the peer closes; a flood, a timeout, a refusal
    or bad input (InvalidInput from `guard` or `handle`) ends the socket with a close code
    and a reason."""
    try:
        async for message in socket:
            try:
                guard.message()
                await handle(message)
            except InvalidInput as error:
                await _refuse(request, socket, dialect, error)
                return
            except StorageUnavailable:
                logger.warning("a %s media stream refused: storage unavailable", dialect)
                _reject(request, dialect, "unavailable")
                await socket.close(
                    code=WSCloseCode.INTERNAL_ERROR, message=b"storage unavailable, try again"
                )
                return
    except TimeoutError:
        _reject(request, dialect, "timeout")


async def _refuse(
    request: web.Request, socket: web.WebSocketResponse, dialect: str, error: InvalidInput
) -> None:
    code = WSCloseCode.POLICY_VIOLATION
    reason = "invalid"
    if isinstance(error, _UnsupportedFrame):
        code, reason = WSCloseCode.UNSUPPORTED_DATA, "unsupported"
    elif isinstance(error, MediaRefused):
        reason = error.refusal
        if error.refusal is Refusal.TOO_BIG:
            code = WSCloseCode.MESSAGE_TOO_BIG
        logger.warning("a %s media stream refused (%s): %s", dialect, reason, error)
    _reject(request, dialect, reason)
    await socket.close(code=code, message=_reason(error))


async def live_call(services: Services, call_id: str) -> Call | None:
    """The call if it is live (known, and still holding a caller or an agent), else None.
    Raises StorageUnavailable."""
    try:
        call = await services.calls.get(call_id)
    except NotFound:
        return None
    return call if call.state in ACTIVE_STATES else None


def _twilio_admission(request: web.Request) -> Admission:
    """The check at a Twilio stream's `start`: our account, a valid binding to a call, and
    that call live and a Twilio one. Returns the call id; raises MediaRefused."""
    app = request.app

    async def admit(start: StartMetadata) -> str:
        settings = app[SETTINGS]
        if not settings.twilio_account_sid or start.account_sid != settings.twilio_account_sid:
            raise MediaRefused(
                Refusal.FOREIGN_ACCOUNT, "the stream's accountSid is not this service's account"
            )
        try:
            call_id = bound_call_id(
                settings.twilio_auth_token.reveal(),
                start.custom_parameters,
                now=app[CLOCK].now().timestamp(),
            )
        except StreamBindingInvalid as error:
            raise MediaRefused(Refusal.BAD_BINDING, str(error)) from None
        call = await live_call(app[SERVICES], call_id)
        if call is None or call.dialect != TWILIO_DIALECT:
            raise MediaRefused(Refusal.UNKNOWN_CALL, "the stream names no live Twilio call")
        return call_id

    return admit


async def twilio_stream(request: web.Request) -> web.WebSocketResponse:
    # Twilio signs the websocket handshake like a webhook: the URL, no parameters. That
    # string is the same for every stream, so the stream is bound to its call at `start`.
    await signed_by_twilio(request, params=())
    socket = await _open(request)
    guard = _guard()
    session = TwilioStreamSession(
        request.app[MEDIA],
        admit=_twilio_admission(request),
        guard=guard,
        on_dtmf=_dtmf_sender(request),
    )

    async def handle(message: WSMessage) -> None:
        if message.type is not WSMsgType.TEXT:
            raise _UnsupportedFrame("text frames only")
        await session.handle(message.data)

    try:
        await _serve(request, socket, TWILIO_DIALECT, guard, handle)
    finally:
        session.close()
    return socket


class _L16Socket:
    """One L16 websocket: a metadata text frame opens the leg, binary frames are audio."""

    def __init__(
        self, request: web.Request, socket: web.WebSocketResponse, guard: MediaGuard
    ) -> None:
        self._hub = request.app[MEDIA]
        self._subprotocol = socket.ws_protocol
        self._guard = guard
        self.stream: l16.L16Stream | None = None

    async def handle(self, message: WSMessage) -> None:
        if message.type is WSMsgType.TEXT and self.stream is None:
            metadata = l16.decode_metadata(message.data, subprotocol=self._subprotocol)
            self.stream = l16.L16Stream(metadata)
            self._hub.open_leg(metadata.call_id, metadata.track, metadata.sample_rate)
        elif message.type is WSMsgType.BINARY and self.stream is not None:
            frame = self.stream.frame(message.data)
            seconds = audio_seconds(len(frame.pcm), frame.sample_rate, l16.SAMPLE_BYTES)
            self._guard.audio(frame.track, seconds)
            self._hub.frame(frame)
        elif message.type is WSMsgType.BINARY:
            raise InvalidInput("audio before the metadata text frame")
        # later text frames (jambonz/Vonage control messages) are not audio: skip

    def close(self) -> None:
        if self.stream is not None:
            self._hub.close_leg(self.stream.metadata.call_id, self.stream.metadata.track)


async def l16_stream(request: web.Request) -> web.WebSocketResponse:
    # the token the route table's authorization accepted: for revocation while open
    header = bearer_header(request, Credentials.BEARER_OR_QUERY)
    socket = await _open(request, tuple(l16.SUBPROTOCOLS))
    guard = _guard()
    session = _L16Socket(request, socket, guard)

    async def revoked() -> None:
        _reject(request, "l16", "revoked")
        await socket.close(code=CLOSE_UNAUTHORIZED, message=b"the token was revoked or expired")

    assert header is not None  # the route table's authorization refused a missing one
    ended = request.app[TOKEN_SESSIONS].opened(header.partition(" ")[2].strip(), revoked)
    try:
        await _serve(request, socket, "l16", guard, session.handle)
    finally:
        ended()
        session.close()
    return socket


def _reason(error: InvalidInput) -> bytes:
    # a close reason may hold at most 123 bytes
    return str(error).encode("utf-8")[:120]
