"""The worker-thread side of the transcription pool: a call leg's state, and the job that
feeds a batch of the leg's queued frames to its own recogniser (resampled to the engine's
rate, partials shed when behind real time) and finishes the leg once it is closed."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from callcenter.media.frames import Track
from callcenter.media.resample import Resampler
from callcenter.speech.engines import Engine, Recognizer, Result

logger = logging.getLogger(__name__)


class Leg:
    """One call leg. The loop owns the flags and appends to `queue`; the one job in flight
    owns `recognizer` and `resampler` and pops from `queue` (deque ends are thread-safe)."""

    __slots__ = (
        "call_id",
        "closing",
        "dropped_samples",
        "failed",
        "queue",
        "recognizer",
        "resampler",
        "sample_rate",
        "scheduled",
        "track",
    )

    def __init__(self, call_id: str, track: Track, sample_rate: int, engine_rate: int) -> None:
        self.call_id = call_id
        self.track = track
        self.sample_rate = sample_rate
        self.queue: deque[tuple[bytes, float]] = deque()  # (pcm, arrival monotonic time)
        self.scheduled = False  # a job for this leg is queued or running
        self.closing = False
        self.failed = False
        self.dropped_samples = 0  # input samples dropped so far: recogniser time -> leg time
        self.resampler = Resampler(sample_rate, engine_rate)
        self.recognizer: Recognizer | None = None


@dataclass(slots=True)
class JobReport:
    """What one worker job did, handed back to the loop (the job's only output)."""

    frames: int = 0
    shed: int = 0
    dropped: int = 0
    lags_s: list[float] = field(default_factory=list)  # one per frame fed
    finished: bool = False
    failed: bool = False


ResultSink = Callable[[Leg, Result], None]
"""deliver(leg, result), called on a worker thread: must hand the result to the loop."""


class LegWorker:
    """Runs the jobs of every leg, one job per leg at a time, on the pool's threads.

    A job feeds at most `batch_frames` frames. A frame that waited over `shed_after_s`, or
    leaves at least `shed_backlog` frames queued, is fed without partial extraction. After
    `abort()` jobs drop what is queued and skip the finals."""

    def __init__(
        self,
        engine: Engine,
        *,
        batch_frames: int,
        shed_after_s: float,
        shed_backlog: int,
        deliver: ResultSink,
    ) -> None:
        self._engine = engine
        self._batch_frames = batch_frames
        self._shed_after_s = shed_after_s
        self._shed_backlog = shed_backlog
        self._deliver = deliver
        self._abort = False  # read by workers

    def abort(self) -> None:
        """From now on, jobs drop their leg's queued frames and finish without finals."""
        self._abort = True

    def run(self, leg: Leg) -> JobReport:
        """Feed up to a batch of the leg's frames; finish the leg if it is closing. Never
        raises: a failure is logged and reported (the leg's queue dropped, counted)."""
        report = JobReport()
        closing = leg.closing  # read first: once set, no frame is queued after it
        try:
            if self._abort:
                report.dropped = self._discard(leg)
                report.finished = closing
                return report
            if leg.recognizer is None:
                if closing and not leg.queue:
                    report.finished = True  # no audio ever came: no recogniser needed
                    return report
                leg.recognizer = self._engine.new_recognizer()
            if self._feed(leg, leg.recognizer, report) and closing:
                self._finish(leg, leg.recognizer)
                report.finished = True
        except Exception:  # the job is the task boundary: log, count, stop this leg only
            logger.exception("transcription failed", extra={"call_id": leg.call_id})
            report.failed = True
            report.dropped = self._discard(leg)
        return report

    def _feed(self, leg: Leg, recognizer: Recognizer, report: JobReport) -> bool:
        """Feed queued frames, at most a batch; True if the queue was emptied."""
        for _ in range(self._batch_frames):
            try:
                pcm, arrived = leg.queue.popleft()
            except IndexError:
                return True
            lag = time.monotonic() - arrived
            report.frames += 1
            report.lags_s.append(lag)
            # Behind: the frame waited too long, or the queue is half way to dropping frames.
            behind = lag > self._shed_after_s or len(leg.queue) >= self._shed_backlog
            report.shed += int(behind)
            # Drops before this frame were of older frames: shift results by their length.
            shift = leg.dropped_samples / leg.sample_rate
            audio = leg.resampler.process(pcm)
            if audio:
                for result in recognizer.accept(audio, partials=not behind):
                    self._deliver(leg, _shifted(result, shift))
        return not leg.queue

    def _finish(self, leg: Leg, recognizer: Recognizer) -> None:
        shift = leg.dropped_samples / leg.sample_rate
        tail = leg.resampler.flush()
        results = recognizer.accept(tail, partials=False) if tail else []
        results += recognizer.finish()
        for result in results:
            self._deliver(leg, _shifted(result, shift))
        _release(leg)

    @staticmethod
    def _discard(leg: Leg) -> int:
        """Drop the leg's queue and close its recogniser; the number of frames dropped."""
        dropped = 0
        while True:
            try:
                leg.queue.popleft()
            except IndexError:
                break
            dropped += 1
        _release(leg)
        return dropped


def _release(leg: Leg) -> None:
    recognizer, leg.recognizer = leg.recognizer, None
    if recognizer is None:
        return
    try:
        recognizer.close()
    except Exception:  # still the job's boundary: the leg is over either way
        logger.exception("closing a recognizer failed", extra={"call_id": leg.call_id})


def _shifted(result: Result, seconds: float) -> Result:
    return result.shifted(seconds) if seconds else result
