"""Final utterances from the transcription pool: scored for sentiment, counted, and kept
in the call's transcript. Partial results are not stored (the live pages will show them)."""

from __future__ import annotations

import asyncio
import logging

from callcenter.media.frames import Track
from callcenter.metrics import Metrics
from callcenter.speech.engines import Final, Result
from callcenter.speech.sentiment import SentimentScorer
from callcenter.storage.transcripts import TranscriptEntry, TranscriptRepository

logger = logging.getLogger(__name__)


class TranscriptService:
    def __init__(
        self, repository: TranscriptRepository, scorer: SentimentScorer, *, metrics: Metrics
    ) -> None:
        self._repository = repository
        self._scorer = scorer
        self._metrics = metrics
        self._writes: set[asyncio.Task[None]] = set()

    def on_result(self, call_id: str, track: Track, result: Result) -> None:
        """The pool's callback (on the event loop): must return at once."""
        if not isinstance(result, Final) or not result.text.strip():
            return
        sentiment = self._scorer.score(result.text)
        speaker = str(track)
        self._metrics.utterances_total.labels(speaker, str(sentiment.label)).inc()
        self._metrics.utterance_sentiment.observe(sentiment.score)
        words = result.words
        entry = TranscriptEntry(
            speaker=speaker,
            text=result.text,
            start_s=words[0].start_s if words else result.offset_s,
            end_s=words[-1].end_s if words else result.offset_s,
            sentiment=sentiment.score,
            label=str(sentiment.label),
            cues=sentiment.cues,
        )
        task = asyncio.get_running_loop().create_task(self._store(call_id, entry))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _store(self, call_id: str, entry: TranscriptEntry) -> None:
        try:
            await self._repository.append(call_id, entry)
        except Exception:
            # task boundary: a lost line is logged and counted, the call goes on
            logger.exception("transcript line not stored", extra={"call_id": call_id})
            self._metrics.task_errors_total.labels("transcript").inc()

    async def read(self, call_id: str) -> list[TranscriptEntry]:
        return await self._repository.read(call_id)

    async def drain(self) -> None:
        await asyncio.gather(*self._writes, return_exceptions=True)


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
