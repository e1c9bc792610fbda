"""Listening to live calls: recognised speech becomes scored transcript lines, each
speaker's rolling mood, and alerts; everything goes on the event bus as it happens.

The monitor is a media hub listener (it sees legs open and close, and measures silence on
the audio) and the transcription pool's result sink. Per call it keeps the mood and the
alert state in memory (a call's audio is terminated by one instance) and writes, in order
per call: the transcript line, the call's final sentiment so far, the bus events, the
alerts with their actions. When the call's last leg is transcribed, its final sentiment
goes into the caller's history."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field

from callcenter.domain.alerts import CallAlerts, Trigger, shortest_silence
from callcenter.domain.callers import EXCERPT_LINES, excerpt_of
from callcenter.domain.mood import CallMood, Mood, Utterance
from callcenter.domain.silence import CallSilence
from callcenter.domain.transcripts import TranscriptEntry
from callcenter.media.frames import AudioFrame, Track
from callcenter.media.levels import is_voiced
from callcenter.metrics import Metrics
from callcenter.services.alert_raiser import AlertRaiser
from callcenter.services.bus import EventBus
from callcenter.services.callers import CallerService
from callcenter.services.clock import Clock
from callcenter.services.live_events import (
    MoodChanged,
    PartialUtterance,
    TranscriptFinal,
    TranscriptPartial,
)
from callcenter.services.rules_source import RulesSource
from callcenter.services.task_failures import log_failure
from callcenter.speech.engines import Final, Partial, Result
from callcenter.speech.sentiment import SentimentScorer
from callcenter.storage.calls import CallRepository
from callcenter.storage.moods import CallMoodRepository, LiveMoodRepository
from callcenter.storage.transcripts import TranscriptRepository

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _Watch:
    """What the monitor knows of one call on this instance."""

    alerts: CallAlerts
    mood: CallMood = field(default_factory=CallMood)
    silence: CallSilence = field(default_factory=CallSilence)
    open_legs: set[Track] = field(default_factory=set)
    transcribing: set[Track] = field(default_factory=set)  # legs whose results may still come
    partials: dict[Track, str] = field(default_factory=dict)
    tail: asyncio.Task[None] | None = None  # the call's latest write; the next one waits
    silence_threshold: float | None = None  # the shortest dead air a rule watches for

    def __post_init__(self) -> None:
        self.silence_threshold = shortest_silence(self.alerts.rules)


@dataclass(frozen=True, slots=True)
class MonitorStores:
    transcripts: TranscriptRepository
    moods: CallMoodRepository
    live_moods: LiveMoodRepository
    calls: CallRepository


class CallMonitor:
    def __init__(
        self,
        stores: MonitorStores,
        scorer: SentimentScorer,
        bus: EventBus,
        *,
        rules: RulesSource,
        alerts: AlertRaiser,
        callers: CallerService,
        metrics: Metrics,
        clock: Clock,
        transcribing: bool,
    ) -> None:
        self._stores = stores
        self._scorer = scorer
        self._bus = bus
        self._rules = rules
        self._alerts = alerts
        self._callers = callers
        self._metrics = metrics
        self._clock = clock
        self._transcribing = transcribing
        self._watches: dict[str, _Watch] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # Media hub listener (on the event loop)

    def open_leg(self, call_id: str, track: Track, sample_rate: int) -> None:
        watch = self._watch(call_id)
        watch.open_legs.add(track)
        watch.silence.open(track)
        if self._transcribing:
            watch.transcribing.add(track)

    def frame(self, frame: AudioFrame) -> None:
        watch = self._watches.get(frame.call_id)
        if watch is None:
            return
        threshold = watch.silence_threshold
        if threshold is None:
            return
        seconds = len(frame.pcm) / 2 / frame.sample_rate
        silence = watch.silence.frame(frame.track, seconds, is_voiced(frame.pcm))
        if silence >= threshold:
            for trigger in watch.alerts.on_silence(silence):
                self._after(frame.call_id, watch, self._alerts.raise_alert(frame.call_id, trigger))

    def close_leg(self, call_id: str, track: Track) -> None:
        watch = self._watches.get(call_id)
        if watch is None:
            return
        watch.open_legs.discard(track)
        watch.silence.close(track)
        self._maybe_done(call_id, watch)

    # Transcription pool sink (on the event loop)

    def on_result(self, call_id: str, track: Track, result: Result) -> None:
        """The pool's callback: must return at once."""
        watch = self._watch(call_id)
        if isinstance(result, Partial):
            self._partial(call_id, watch, track, result)
        elif isinstance(result, Final) and result.text.strip():
            self._final(call_id, watch, track, result)

    def on_leg_done(self, call_id: str, track: Track) -> None:
        """The pool delivered the leg's last result."""
        watch = self._watches.get(call_id)
        if watch is None:
            return
        watch.transcribing.discard(track)
        self._maybe_done(call_id, watch)

    def _partial(self, call_id: str, watch: _Watch, track: Track, result: Partial) -> None:
        text = result.text.strip()
        if not text or watch.partials.get(track) == text:
            return
        watch.partials[track] = text
        partial = PartialUtterance(
            speaker=str(track), text=text, offset_s=round(result.offset_s, 2)
        )
        # in the call's order, so a partial never lands after the final that replaces it
        self._after(call_id, watch, self._publish_partial(call_id, partial))

    async def _publish_partial(self, call_id: str, partial: PartialUtterance) -> None:
        await self._bus.publish(TranscriptPartial(data=partial, call_id=call_id))

    def _final(self, call_id: str, watch: _Watch, track: Track, result: Final) -> None:
        watch.partials.pop(track, None)
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
        mood = watch.mood.add(Utterance(speaker, entry.start_s, entry.end_s, entry.sentiment))
        triggers = watch.alerts.on_utterance(speaker, entry.text, mood.score)
        final = watch.mood.final_sentiment()
        self._after(call_id, watch, self._record(call_id, entry, mood, final, triggers))

    async def _record(
        self,
        call_id: str,
        entry: TranscriptEntry,
        mood: Mood,
        final: float | None,
        triggers: list[Trigger],
    ) -> None:
        await self._stores.transcripts.append(call_id, entry)
        if final is not None:
            await self._stores.moods.set_final(call_id, final)
        await self._bus.publish(TranscriptFinal(data=entry, call_id=call_id))
        await self._stores.live_moods.set(call_id, mood)
        await self._bus.publish(MoodChanged(data=mood, call_id=call_id))
        for trigger in triggers:
            await self._alerts.raise_alert(call_id, trigger)

    # Per-call bookkeeping

    def _watch(self, call_id: str) -> _Watch:
        watch = self._watches.get(call_id)
        if watch is None:
            watch = self._watches[call_id] = _Watch(CallAlerts(self._rules.current.alerts))
        return watch

    def _maybe_done(self, call_id: str, watch: _Watch) -> None:
        if watch.open_legs or watch.transcribing:
            return
        del self._watches[call_id]
        final = watch.mood.final_sentiment()
        if final is not None:
            self._after(call_id, watch, self._finish(call_id, final))

    async def _finish(self, call_id: str, final: float) -> None:
        """The call's audio is all transcribed: its final sentiment and last lines into the
        caller's history (a no-op until the call has ended; the call's end reads them)."""
        await self._stores.moods.set_final(call_id, final)
        call = await self._stores.calls.get(call_id)
        if call is not None and call.caller_key:
            last = await self._stores.transcripts.last(call_id, EXCERPT_LINES)
            await self._callers.record_ending(
                call.caller_key,
                call_id,
                sentiment=final,
                excerpt=excerpt_of((entry.speaker, entry.text) for entry in last),
            )

    def _after(self, call_id: str, watch: _Watch, work: Awaitable[None]) -> None:
        """Run `work` after the call's earlier writes (in order per call, off the caller)."""
        previous = watch.tail

        async def run() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            try:
                await work
            except Exception:
                # task boundary: a lost write is logged and counted, the call goes on
                log_failure(logger, "call monitor write failed", extra={"call_id": call_id})
                self._metrics.task_errors_total.labels("call_monitor").inc()

        task = asyncio.get_running_loop().create_task(run())
        watch.tail = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def calls_watched(self) -> int:
        return len(self._watches)

    def mood_of(self, call_id: str) -> dict[str, Mood]:
        """The live moods of a call watched here, by speaker (empty if not watched)."""
        watch = self._watches.get(call_id)
        if watch is None:
            return {}
        return {speaker: watch.mood.mood(speaker) for speaker in watch.mood.by_speaker}

    async def drain(self) -> None:
        """Wait for every write in flight."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
