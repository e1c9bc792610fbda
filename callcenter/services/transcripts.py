"""Call transcripts as the API reads them, and the transcription pool's figures as
Prometheus metrics."""

from __future__ import annotations

from callcenter.domain.transcripts import TranscriptEntry
from callcenter.metrics import Metrics
from callcenter.storage.transcripts import TranscriptRepository


class TranscriptService:
    """Reads call transcripts (the call monitor writes them)."""

    def __init__(self, repository: TranscriptRepository) -> None:
        self._repository = repository

    async def read(self, call_id: str) -> list[TranscriptEntry]:
        return await self._repository.read(call_id)


class PoolMetrics:
    """The pool's observer: its figures as Prometheus metrics."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def frames_dropped(self, count: int) -> None:
        self._metrics.asr_dropped_frames_total.inc(count)

    def lag_observed(self, seconds: float) -> None:
        self._metrics.asr_lag_seconds.observe(seconds)

    def streams_changed(self, active: int) -> None:
        self._metrics.asr_streams_active.set(active)
