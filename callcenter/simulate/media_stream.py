"""A caller's voice, streamed to the server in real time (one 20 ms frame every 20 ms) as
a gateway would: Twilio Media Streams (JSON, base64 mu-law; `customParameters` exactly
the <Parameter>s of the TwiML's <Stream>, as Twilio sends them) or the generic L16 socket
(a JSON metadata frame, then binary PCM16). The server never writes on these sockets but
to close them, so anything it sends ends the stream as a refusal (StreamClosed)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager

import aiohttp

from callcenter.media.codecs import ulaw_to_pcm16
from callcenter.simulate.api import ServerRefused
from callcenter.simulate.clips import FRAME_SAMPLES, MULAW_SILENCE, Clip

FRAME_SECONDS = 0.02
TRAILING_SILENCE_SECONDS = 1.0  # lets the recogniser close the last utterance


class StreamClosed(ServerRefused):
    """The server closed a media stream before the gateway was done with it."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__("media stream", code or 0, reason)

    def __str__(self) -> str:
        return f"{self.what}: closed by the server with code {self.status}: {self.body[:300]}"


@asynccontextmanager
async def _refusals(socket: aiohttp.ClientWebSocketResponse) -> AsyncIterator[Callable[[], None]]:
    """Watch `socket` for the server closing it; the check yielded raises StreamClosed
    once it has (call it before each message)."""
    watcher = asyncio.get_running_loop().create_task(socket.receive())

    def check() -> None:
        if not watcher.done():
            return
        error = watcher.exception()
        if error is not None:
            raise StreamClosed(socket.close_code, str(error))
        message = watcher.result()
        raise StreamClosed(socket.close_code, str(message.extra or message.type.name))

    try:
        yield check
    finally:
        await socket.close()  # ends the pending receive too
        await asyncio.gather(watcher, return_exceptions=True)


MAX_CATCH_UP_SECONDS = 0.5


def _frames(clip: Clip) -> list[bytes]:
    silence = MULAW_SILENCE * FRAME_SAMPLES
    return clip.frames() + [silence] * round(TRAILING_SILENCE_SECONDS / FRAME_SECONDS)


async def _paced(
    frames: Iterable[bytes], send: Callable[[int, bytes], Awaitable[None]], stop: asyncio.Event
) -> int:
    """Call `send(index, frame)` at real-time pace until the frames run out or `stop` is
    set; returns how many were sent. After a stall (a loaded machine) it catches up at most
    MAX_CATCH_UP_SECONDS, then goes on at real time from where it is, as a media server
    does: a burst of the whole backlog would be refused as a flood."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    sent = 0
    for index, frame in enumerate(frames):
        if stop.is_set():
            break
        delay = began + index * FRAME_SECONDS - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -MAX_CATCH_UP_SECONDS:
            began -= delay + MAX_CATCH_UP_SECONDS  # the rest of the backlog comes at real time
        await send(index, frame)
        sent += 1
    return sent


async def stream_twilio(
    session: aiohttp.ClientSession,
    url: str,
    *,
    signature: str,
    account_sid: str,
    call_sid: str,
    stream_sid: str,
    parameters: dict[str, str],
    clip: Clip,
    stop: asyncio.Event,
) -> int:
    """One Twilio Media Stream carrying `clip` on the inbound track, with `parameters` (the
    TwiML's) as its customParameters. Returns frames sent.

    Raises aiohttp.ClientError (or WSServerHandshakeError) when the server refuses the
    handshake, StreamClosed when it closes the stream early."""
    async with (
        session.ws_connect(url, headers={"X-Twilio-Signature": signature}) as socket,
        _refusals(socket) as refused,
    ):
        await socket.send_str(
            json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        )
        await socket.send_str(
            json.dumps(
                {
                    "event": "start",
                    "sequenceNumber": "1",
                    "streamSid": stream_sid,
                    "start": {
                        "streamSid": stream_sid,
                        "accountSid": account_sid,
                        "callSid": call_sid,
                        "tracks": ["inbound"],
                        "customParameters": parameters,
                        "mediaFormat": {
                            "encoding": "audio/x-mulaw",
                            "sampleRate": 8000,
                            "channels": 1,
                        },
                    },
                }
            )
        )

        async def send(index: int, frame: bytes) -> None:
            refused()
            await socket.send_str(
                json.dumps(
                    {
                        "event": "media",
                        "sequenceNumber": str(index + 2),
                        "streamSid": stream_sid,
                        "media": {
                            "track": "inbound",
                            "chunk": str(index + 1),
                            "timestamp": str(index * 20),
                            "payload": base64.b64encode(frame).decode("ascii"),
                        },
                    }
                )
            )

        sent = await _paced(_frames(clip), send, stop)
        refused()
        await socket.send_str(
            json.dumps(
                {
                    "event": "stop",
                    "sequenceNumber": str(sent + 2),
                    "streamSid": stream_sid,
                    "stop": {"accountSid": account_sid, "callSid": call_sid},
                }
            )
        )
    return sent


async def stream_l16(
    session: aiohttp.ClientSession,
    url: str,
    *,
    token: str,
    call_id: str,
    clip: Clip,
    stop: asyncio.Event,
) -> int:
    """One generic L16 stream (8 kHz PCM16) carrying `clip` as the caller's track.

    Raises aiohttp.ClientError when the server refuses the handshake, StreamClosed when it
    closes the stream early."""
    headers = {"Authorization": f"Bearer {token}"}
    async with session.ws_connect(url, headers=headers) as socket, _refusals(socket) as refused:
        await socket.send_str(
            json.dumps({"call_id": call_id, "track": "caller", "sample_rate": 8000})
        )

        async def send(index: int, frame: bytes) -> None:
            refused()
            await socket.send_bytes(ulaw_to_pcm16(frame))

        sent = await _paced(_frames(clip), send, stop)
        refused()
        return sent
