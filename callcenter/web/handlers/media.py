"""Live audio websockets: Twilio Media Streams (`/media/twilio`) and L16 PCM (`/media/l16`:
FreeSWITCH mod_audio_fork, jambonz listen, Vonage, or the generic shape).

The socket plumbing lives here; what each frame means is its session's (in
services/twilio_media.py and services/l16_media.py). A session that must end says why, and
the socket closes with the matching code and the reason (1003 unsupported data, 1008 policy
violation, 1009 too big, 1011 storage unavailable); the leg is always closed."""

from __future__ import annotations

import weakref

from aiohttp import WSCloseCode, WSMessage, WSMsgType, web

from callcenter.services.l16_media import SUBPROTOCOLS
from callcenter.services.media_sessions import CloseKind, Frame, MediaSession
from callcenter.web.authorization import bearer_header
from callcenter.web.close_codes import CLOSE_UNAUTHORIZED
from callcenter.web.handlers.twilio import public_url
from callcenter.web.operation import Credentials
from callcenter.web.state import MEDIA_SOCKETS, SERVICES, TOKEN_SESSIONS

MAX_TEXT_MESSAGE = 64 * 1024
MAX_BINARY_MESSAGE = 64 * 1024
RECEIVE_TIMEOUT_SECONDS = 30.0


_CLOSE_CODES = {
    CloseKind.UNSUPPORTED: WSCloseCode.UNSUPPORTED_DATA,
    CloseKind.POLICY: WSCloseCode.POLICY_VIOLATION,
    CloseKind.TOO_BIG: WSCloseCode.MESSAGE_TOO_BIG,
    CloseKind.UNAVAILABLE: WSCloseCode.INTERNAL_ERROR,
}


def setup_media_sockets(app: web.Application) -> None:
    """Track sockets; close them with 1001 on shutdown, then wait for their side tasks."""
    app[MEDIA_SOCKETS] = weakref.WeakSet()

    async def going_away(app: web.Application) -> None:
        sockets: weakref.WeakSet[web.WebSocketResponse] = app[MEDIA_SOCKETS]
        for socket in list(sockets):
            await socket.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
        services = app.get(SERVICES)  # absent when start-up failed before the services
        if services is not None:
            await services.twilio_media.drain()

    app.on_shutdown.append(going_away)


async def _open(request: web.Request, protocols: tuple[str, ...] = ()) -> web.WebSocketResponse:
    socket = web.WebSocketResponse(
        protocols=protocols,
        max_msg_size=max(MAX_TEXT_MESSAGE, MAX_BINARY_MESSAGE),
        receive_timeout=RECEIVE_TIMEOUT_SECONDS,
        heartbeat=None,
    )
    await socket.prepare(request)
    request.app[MEDIA_SOCKETS].add(socket)
    return socket


def _frame(message: WSMessage) -> Frame:
    if message.type is WSMsgType.TEXT:
        text: str = message.data
        return text
    if message.type is WSMsgType.BINARY:
        data: bytes = message.data
        return data
    return None


async def _serve(socket: web.WebSocketResponse, session: MediaSession) -> None:
    """Feed each message to the session until the peer closes, the peer falls silent or
    the session says the socket must close."""
    try:
        async for message in socket:
            closing = await session.receive(_frame(message))
            if closing is not None:
                await socket.close(code=_CLOSE_CODES[closing.kind], message=closing.reason)
                return
    except TimeoutError:
        session.timed_out()


async def twilio_stream(request: web.Request) -> web.WebSocketResponse:
    streams = request.app[SERVICES].twilio_media
    streams.verify_handshake(str(public_url(request)), request.headers)
    socket = await _open(request)
    session = streams.open()
    try:
        await _serve(socket, session)
    finally:
        session.close()
    return socket


async def l16_stream(request: web.Request) -> web.WebSocketResponse:
    # the token the route table's authorization accepted: for revocation while open
    header = bearer_header(request, Credentials.BEARER_OR_QUERY)
    socket = await _open(request, SUBPROTOCOLS)
    session = request.app[SERVICES].l16_media.open(socket.ws_protocol)

    async def revoked() -> None:
        session.revoked()
        await socket.close(code=CLOSE_UNAUTHORIZED, message=b"the token was revoked or expired")

    assert header is not None  # the route table's authorization refused a missing one
    ended = request.app[TOKEN_SESSIONS].opened(header.partition(" ")[2].strip(), revoked)
    try:
        await _serve(socket, session)
    finally:
        ended()
        session.close()
    return socket
