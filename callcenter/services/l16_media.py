"""L16 PCM websockets (`/media/l16`: FreeSWITCH mod_audio_fork, jambonz listen, Vonage, or
the generic shape): a metadata text frame opens the leg on the media hub, binary frames
are its audio, weighed against real time and capped in size."""

from __future__ import annotations

import asyncio

from callcenter.errors import InvalidInput
from callcenter.media import l16
from callcenter.media.flood import MediaGuard, audio_seconds
from callcenter.media.frames import FrameSink
from callcenter.metrics import Metrics
from callcenter.services.media_sessions import Frame, MediaSession

L16_DIALECT = "l16"
# the websocket subprotocols a sender may ask for (each picks a metadata shape)
SUBPROTOCOLS: tuple[str, ...] = tuple(l16.SUBPROTOCOLS)


class L16Session(MediaSession):
    """One L16 websocket, in the metadata shape of its negotiated `subprotocol`."""

    def __init__(
        self, hub: FrameSink, guard: MediaGuard, *, subprotocol: str | None, metrics: Metrics
    ) -> None:
        super().__init__(L16_DIALECT, guard, metrics=metrics)
        self._hub = hub
        self._subprotocol = subprotocol
        self.stream: l16.L16Stream | None = None

    async def _handle(self, frame: Frame) -> None:
        if isinstance(frame, str) and self.stream is None:
            metadata = l16.decode_metadata(frame, subprotocol=self._subprotocol)
            self.stream = l16.L16Stream(metadata)
            self._hub.open_leg(metadata.call_id, metadata.track, metadata.sample_rate)
        elif isinstance(frame, bytes) and self.stream is not None:
            audio = self.stream.frame(frame)
            seconds = audio_seconds(len(audio.pcm), audio.sample_rate, l16.SAMPLE_BYTES)
            self._guard.audio(audio.track, seconds)
            self._hub.frame(audio)
        elif isinstance(frame, bytes):
            raise InvalidInput("audio before the metadata text frame")
        # later text frames (jambonz/Vonage control messages) are not audio: skip

    def revoked(self) -> None:
        """The token the socket was opened with stopped being valid (the socket closes)."""
        self._reject("revoked")

    def close(self) -> None:
        if self.stream is not None:
            self._hub.close_leg(self.stream.metadata.call_id, self.stream.metadata.track)


class L16MediaStreams:
    def __init__(self, hub: FrameSink, *, metrics: Metrics) -> None:
        self._hub = hub
        self._metrics = metrics

    def open(self, subprotocol: str | None) -> L16Session:
        """The session of a socket that just opened with `subprotocol` (call on the loop)."""
        guard = MediaGuard(asyncio.get_running_loop().time)
        return L16Session(self._hub, guard, subprotocol=subprotocol, metrics=self._metrics)
