"""Twilio Media Streams (`/media/twilio`): the handshake's X-Twilio-Signature, and one
session per stream that hands its audio to the media hub.

Twilio signs the websocket handshake like a webhook, but over the URL alone: that string
is the same for every stream, so a stream is admitted at its `start` only when it is bound
to a live Twilio call of our account (gateways.twilio.stream_binding). Digits pressed on
the stream are applied as `call.dtmf` in owned tasks, awaited by `drain`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from callcenter.domain.events import CallDtmf
from callcenter.gateways.twilio.stream_binding import StreamBindingInvalid, bound_call_id
from callcenter.media.flood import MediaGuard
from callcenter.media.frames import FrameSink
from callcenter.media.refusals import MediaRefused, Refusal
from callcenter.media.twilio_stream import StartMetadata, TwilioStreamSession
from callcenter.metrics import Metrics
from callcenter.services.call_events import CallEventService
from callcenter.services.calls import CallQueryService
from callcenter.services.clock import Clock
from callcenter.services.live_calls import live_call
from callcenter.services.media_sessions import Frame, MediaSession, UnsupportedFrame
from callcenter.services.twilio_voice import TWILIO_DIALECT, TwilioSignatures

logger = logging.getLogger(__name__)


class TwilioMediaSession(MediaSession):
    """One Media Streams websocket: text frames only, each a Media Streams message."""

    def __init__(self, stream: TwilioStreamSession, guard: MediaGuard, *, metrics: Metrics):
        super().__init__(TWILIO_DIALECT, guard, metrics=metrics)
        self._stream = stream

    async def _handle(self, frame: Frame) -> None:
        if not isinstance(frame, str):
            raise UnsupportedFrame("text frames only")
        await self._stream.handle(frame)

    def close(self) -> None:
        self._stream.close()


class TwilioMediaStreams:
    def __init__(
        self,
        hub: FrameSink,
        calls: CallQueryService,
        events: CallEventService,
        signatures: TwilioSignatures,
        *,
        account_sid: str,
        auth_token: str,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self._hub = hub
        self._calls = calls
        self._events = events
        self._signatures = signatures
        self._account_sid = account_sid
        self._token = auth_token
        self._clock = clock
        self._metrics = metrics
        self._tasks: set[asyncio.Task[None]] = set()

    def verify_handshake(self, url: str, headers: Mapping[str, str]) -> None:
        """Raise Forbidden (counted) unless the handshake to `url` is signed by Twilio."""
        self._signatures.verify(url, (), headers)

    def open(self) -> TwilioMediaSession:
        """The session of a stream whose socket just opened (call on the event loop)."""
        guard = MediaGuard(asyncio.get_running_loop().time)
        stream = TwilioStreamSession(self._hub, admit=self._admit, guard=guard, on_dtmf=self._dtmf)
        return TwilioMediaSession(stream, guard, metrics=self._metrics)

    async def drain(self) -> None:
        """Wait for the digits being applied."""
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _admit(self, start: StartMetadata) -> str:
        """The check at a stream's `start`: our account, a valid binding to a call, and that
        call live and a Twilio one. Returns the call id; raises MediaRefused."""
        if not self._account_sid or start.account_sid != self._account_sid:
            raise MediaRefused(
                Refusal.FOREIGN_ACCOUNT, "the stream's accountSid is not this service's account"
            )
        try:
            call_id = bound_call_id(
                self._token, start.custom_parameters, now=self._clock.now().timestamp()
            )
        except StreamBindingInvalid as error:
            raise MediaRefused(Refusal.BAD_BINDING, str(error)) from None
        call = await live_call(self._calls, call_id)
        if call is None or call.dialect != TWILIO_DIALECT:
            raise MediaRefused(Refusal.UNKNOWN_CALL, "the stream names no live Twilio call")
        return call_id

    def _dtmf(self, event: CallDtmf) -> None:
        task = asyncio.get_running_loop().create_task(self._apply_dtmf(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _apply_dtmf(self, event: CallDtmf) -> None:
        try:
            await self._events.apply(event, dialect=TWILIO_DIALECT)
        except Exception:
            # task boundary: a digit that cannot be applied is logged, the stream goes on
            logger.exception("dtmf from a media stream not applied")
            self._metrics.task_errors_total.labels("media_dtmf").inc()
