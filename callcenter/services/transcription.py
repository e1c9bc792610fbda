"""The transcription pool: a FrameSink that feeds every call leg's audio, in order, to that
leg's own recogniser on a few worker threads, and hands partial and final results back to
the event loop. Bounded everywhere: when the machine falls behind real time it first sheds
partials, then drops the oldest queued frames, counting every one; it never blocks the loop.
This module is the event-loop side; what a job does on a worker thread is in
transcription_worker.py.

Threads, not processes: the Vosk binding releases the GIL during decoding, so threads use
every core while sharing one model (hundreds of MB) in one process (bench/asr.py measures).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from callcenter.media.frames import AudioFrame, Track
from callcenter.services.transcription_worker import JobReport, Leg, LegWorker
from callcenter.speech.engines import Engine, Final, Result

logger = logging.getLogger(__name__)

ResultCallback = Callable[[str, Track, Result], None]
"""on_result(call_id, track, result), called on the event loop in each leg's result order."""
LegCallback = Callable[[str, Track], None]
"""on_leg_done(call_id, track): a closed leg's last result was delivered (or it failed)."""

DEFAULT_SHED_PARTIALS_AFTER_S = 0.5
DEFAULT_BATCH_FRAMES = 25  # frames one job takes before yielding its worker to other legs


class PoolObserver(Protocol):
    """Where the pool reports what Prometheus exports (called on the event loop)."""

    def frames_dropped(self, count: int) -> None:
        """Frames never recognised (asr_dropped_frames_total)."""
        ...

    def lag_observed(self, seconds: float) -> None:
        """How long one frame waited between arrival and recognition (asr_lag_seconds)."""
        ...

    def streams_changed(self, active: int) -> None:
        """Legs holding a recogniser now (asr_streams_active)."""
        ...


@dataclass(frozen=True, slots=True)
class PoolStats:
    """A snapshot of the pool's counters (since start) and gauges (now)."""

    streams_active: int
    frames_in: int  # accepted into a leg's queue
    frames_fed: int  # given to a recogniser; when idle, frames_in = fed + dropped from queues
    frames_dropped: int  # every frame never recognised (queue full, no leg, failed, shutdown)
    frames_shed_partials: int  # fed without partial extraction because behind real time
    partials: int
    finals: int
    errors: int
    queued_frames: int
    max_queued_frames: int  # the most any leg's queue ever held (<= queue_frames)
    lag_s: float  # age of the oldest frame waiting in any leg's queue


class TranscriptionPool:
    """FrameSink for the MediaHub; one recogniser per leg, `workers` threads for all legs
    (one if the engine holds the GIL).

    `open_leg`, `frame` and `close_leg` run on the event loop and return at once. Each leg
    queues at most `queue_frames` frames; a full queue drops its oldest frame. A frame that
    waited over `shed_partials_after_s`, or leaves its queue at least half full, is fed
    without partial extraction, so partials go before any frame is dropped. `close_leg`
    recognises what is queued, delivers the last final and closes the recogniser. Word times
    are seconds of the leg's audio (exact while nothing is dropped). Call `shutdown()` (or
    use `async with`) to finish every leg and join the threads.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        workers: int,
        queue_frames: int,
        on_result: ResultCallback,
        observer: PoolObserver | None = None,
        on_leg_done: LegCallback | None = None,
        shed_partials_after_s: float = DEFAULT_SHED_PARTIALS_AFTER_S,
        batch_frames: int = DEFAULT_BATCH_FRAMES,
    ) -> None:
        if workers < 1 or queue_frames < 1 or batch_frames < 1:
            raise ValueError("workers, queue_frames and batch_frames must be at least 1")
        self._engine = engine
        self._queue_frames = queue_frames
        self._on_result = on_result
        self._on_leg_done = on_leg_done
        self._observer = observer
        self._worker = LegWorker(
            engine,
            batch_frames=batch_frames,
            shed_after_s=shed_partials_after_s,
            shed_backlog=max(1, queue_frames // 2),
            deliver=self._from_worker,
        )
        if not engine.releases_gil and workers > 1:
            # Threads would only fight over the GIL (and starve the event loop): use one.
            logger.info("speech engine %s holds the GIL: 1 worker, not %d", engine.name, workers)
            workers = 1
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="asr")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._legs: dict[tuple[str, Track], Leg] = {}
        self._closing: set[Leg] = set()  # closed legs whose recogniser is still finishing
        self._jobs: set[asyncio.Future[JobReport]] = set()
        self._stopping = False
        self._frames_in = 0
        self._frames_fed = 0
        self._frames_dropped = 0
        self._frames_shed = 0
        self._partials = 0
        self._finals = 0
        self._errors = 0
        self._max_queued = 0

    async def __aenter__(self) -> TranscriptionPool:
        self._loop = asyncio.get_running_loop()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.shutdown()

    # FrameSink, on the event loop

    def open_leg(self, call_id: str, track: Track, sample_rate: int) -> None:
        """Start a leg (restarting it if open). Raises ValueError for an unusable rate."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if self._stopping:
            logger.warning("transcription pool stopping: leg ignored", extra={"call_id": call_id})
            return
        if (call_id, track) in self._legs:
            self.close_leg(call_id, track)
        self._legs[call_id, track] = Leg(call_id, track, sample_rate, self._engine.sample_rate)
        self._streams_changed()

    def frame(self, frame: AudioFrame) -> None:
        leg = self._legs.get((frame.call_id, frame.track))
        if leg is None or leg.failed or frame.sample_rate != leg.sample_rate:
            self._dropped(1)
            return
        self._frames_in += 1
        if len(leg.queue) >= self._queue_frames:
            try:
                oldest, _ = leg.queue.popleft()
            except IndexError:  # a worker took it meanwhile: there is room after all
                pass
            else:
                leg.dropped_samples += len(oldest) // 2
                self._dropped(1)
        leg.queue.append((frame.pcm, time.monotonic()))
        self._max_queued = max(self._max_queued, len(leg.queue))
        if not leg.scheduled:
            self._schedule(leg)

    def close_leg(self, call_id: str, track: Track) -> None:
        leg = self._legs.pop((call_id, track), None)
        if leg is None:
            return
        leg.closing = True
        if not leg.failed:
            self._closing.add(leg)
            if not leg.scheduled:
                self._schedule(leg)
        elif not leg.scheduled:
            self._leg_done(leg)
        self._streams_changed()

    # Results and bookkeeping, on the event loop

    def stats(self) -> PoolStats:
        now = time.monotonic()
        lag = 0.0
        queued = 0
        for leg in (*self._legs.values(), *self._closing):
            queued += len(leg.queue)
            try:
                lag = max(lag, now - leg.queue[0][1])
            except IndexError:
                pass
        return PoolStats(
            streams_active=len(self._legs) + len(self._closing),
            frames_in=self._frames_in,
            frames_fed=self._frames_fed,
            frames_dropped=self._frames_dropped,
            frames_shed_partials=self._frames_shed,
            partials=self._partials,
            finals=self._finals,
            errors=self._errors,
            queued_frames=queued,
            max_queued_frames=self._max_queued,
            lag_s=lag,
        )

    def _dropped(self, count: int) -> None:
        if count:
            self._frames_dropped += count
            if self._observer is not None:
                self._observer.frames_dropped(count)

    def _streams_changed(self) -> None:
        if self._observer is not None:
            self._observer.streams_changed(len(self._legs) + len(self._closing))

    def _schedule(self, leg: Leg) -> None:
        assert self._loop is not None  # set by open_leg, which every leg went through
        leg.scheduled = True
        job = self._loop.run_in_executor(self._executor, self._worker.run, leg)
        self._jobs.add(job)
        job.add_done_callback(functools.partial(self._job_done, leg))

    def _job_done(self, leg: Leg, job: asyncio.Future[JobReport]) -> None:
        self._jobs.discard(job)
        leg.scheduled = False
        report = job.result()  # LegWorker.run catches everything: a job never raises
        self._frames_fed += report.frames
        self._frames_shed += report.shed
        self._dropped(report.dropped)
        if self._observer is not None:
            for lag in report.lags_s:
                self._observer.lag_observed(lag)
        if report.failed:
            self._errors += 1
            leg.failed = True
            self._dropped(len(leg.queue))
            leg.queue.clear()
        if report.failed or report.finished:
            if leg in self._closing:
                self._closing.discard(leg)
                self._streams_changed()
            if leg.closing:
                self._leg_done(leg)
            return
        if leg.queue or leg.closing:
            self._schedule(leg)

    def _deliver(self, leg: Leg, result: Result) -> None:
        if isinstance(result, Final):
            self._finals += 1
        else:
            self._partials += 1
        try:
            self._on_result(leg.call_id, leg.track, result)
        except Exception:  # a callback's bug must not stop the leg's transcription
            self._errors += 1
            logger.exception("transcript callback failed", extra={"call_id": leg.call_id})

    def _leg_done(self, leg: Leg) -> None:
        if self._on_leg_done is None:
            return
        try:
            self._on_leg_done(leg.call_id, leg.track)
        except Exception:
            self._errors += 1
            logger.exception("leg-done callback failed", extra={"call_id": leg.call_id})

    def _from_worker(self, leg: Leg, result: Result) -> None:
        """Called on a worker thread: deliver `result` on the event loop, in order."""
        loop = self._loop
        assert loop is not None  # set before the first job was scheduled
        loop.call_soon_threadsafe(self._deliver, leg, result)

    # Shutdown

    async def shutdown(self, *, timeout_s: float = 10.0) -> None:
        """Close every leg, deliver their finals (for at most `timeout_s`; then drop what is
        still queued, counted) and join the worker threads. Idempotent."""
        self._stopping = True
        for call_id, track in list(self._legs):
            self.close_leg(call_id, track)
        if not await self._wait_for_jobs(timeout_s):
            logger.warning("transcription pool: shutdown timed out; dropping queued audio")
            self._worker.abort()
            await self._wait_for_jobs(None)
        await asyncio.to_thread(self._executor.shutdown, wait=True)

    async def idle(self) -> None:
        """Return once every frame queued so far is recognised and every closed leg finished
        (its results delivered)."""
        await self._wait_for_jobs(None)

    async def _wait_for_jobs(self, timeout_s: float | None) -> bool:
        """Wait until no job is in flight (jobs schedule follow-ups); False on timeout."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self._jobs:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            await asyncio.wait(set(self._jobs), timeout=remaining)
        return True
