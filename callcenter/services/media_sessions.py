"""What every media websocket session shares: each frame weighed against real time
(media.flood.MediaGuard) before it is handled, and bad input, a refusal or a storage
outage turned into a `Closing` (a kind the web layer maps onto a websocket close code, and
a reason), counted in media_rejections_total. The call and the server go on."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum

from callcenter.errors import InvalidInput, StorageUnavailable
from callcenter.media.flood import MediaGuard
from callcenter.media.refusals import MediaRefused, Refusal
from callcenter.metrics import Metrics

logger = logging.getLogger(__name__)

# One websocket frame as the web layer hands it in: a text frame as str, a binary frame as
# bytes, any other frame (an error the socket reports) as None.
Frame = str | bytes | None

# a close reason may hold at most 123 bytes
MAX_CLOSE_REASON_BYTES = 120


class CloseKind(StrEnum):
    """Why the socket closes, for the web layer to pick the close code."""

    UNSUPPORTED = "unsupported"  # 1003: a frame of a kind the protocol does not use
    POLICY = "policy"  # 1008: bad input, or a stream that must not go on
    TOO_BIG = "too_big"  # 1009: one frame holds more audio than any gateway sends at once
    UNAVAILABLE = "unavailable"  # 1011: storage unavailable, try again


@dataclass(frozen=True, slots=True)
class Closing:
    kind: CloseKind
    reason: bytes  # at most MAX_CLOSE_REASON_BYTES


class UnsupportedFrame(InvalidInput):
    """A frame of a kind the protocol does not use (closes with 1003, not 1008)."""


class MediaSession(ABC):
    """One media websocket: `receive` each frame in order; a Closing back means the socket
    must close with it now. `timed_out` when the peer fell silent too long; `close` when
    the socket ends, however it ends (idempotent)."""

    def __init__(self, dialect: str, guard: MediaGuard, *, metrics: Metrics) -> None:
        self._dialect = dialect
        self._guard = guard
        self._metrics = metrics

    async def receive(self, frame: Frame) -> Closing | None:
        try:
            self._guard.message()
            await self._handle(frame)
        except InvalidInput as error:
            return self._refused(error)
        except StorageUnavailable:
            logger.warning("a %s media stream refused: storage unavailable", self._dialect)
            self._reject("unavailable")
            return Closing(CloseKind.UNAVAILABLE, b"storage unavailable, try again")
        return None

    def timed_out(self) -> None:
        self._reject("timeout")

    @abstractmethod
    async def _handle(self, frame: Frame) -> None:
        """Handle one frame; raises InvalidInput (MediaRefused, UnsupportedFrame) or
        StorageUnavailable to end the session."""

    @abstractmethod
    def close(self) -> None: ...

    def _reject(self, reason: str) -> None:
        self._metrics.media_rejections_total.labels(self._dialect, reason).inc()

    def _refused(self, error: InvalidInput) -> Closing:
        kind = CloseKind.POLICY
        reason = "invalid"
        if isinstance(error, UnsupportedFrame):
            kind, reason = CloseKind.UNSUPPORTED, "unsupported"
        elif isinstance(error, MediaRefused):
            reason = error.refusal
            if error.refusal is Refusal.TOO_BIG:
                kind = CloseKind.TOO_BIG
            logger.warning("a %s media stream refused (%s): %s", self._dialect, reason, error)
        self._reject(reason)
        return Closing(kind, str(error).encode("utf-8")[:MAX_CLOSE_REASON_BYTES])
