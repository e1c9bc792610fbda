"""Resampling benchmark: what `callcenter.media.resample.Resampler` costs per live stream.

Each stream is S seconds of PCM16 noise fed in 20 ms frames, as the transcription pool feeds
a call leg (the cost does not depend on the content). For each rate pair the pool meets
(8 kHz telephone audio to a 16 kHz engine; 16 kHz to 8 kHz; 48 kHz wideband L16 to 16 kHz):
  ours   the Resampler (what the pool runs: PCM16 bytes in and out)
  bare   a bare soxr.ResampleStream (HQ, float32) on the same frames, already as floats:
         the baseline, in the same process and run
Reported per pair: CPU per 20 ms frame (best of R rounds), % of one core per stream, the
ratio ours / bare, and the delay the resampler adds on a live stream: how far its output
runs behind its input after each frame (mean and max, ms) and how many frames return no
output at all (a block-based filter returns its output in bursts).

Run:  python bench/resample_cost.py [--seconds 10] [--rounds 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import soxr

from callcenter.media.resample import Resampler

FRAME_S = 0.02
RATE_PAIRS = ((8000, 16000), (16000, 8000), (48000, 16000))
Frames = list[bytes]


def frames_of(rate: int, seconds: float, seed: int) -> Frames:
    samples = np.random.default_rng(seed).integers(-20000, 20000, round(rate * seconds))
    pcm = samples.astype("<i2").tobytes()
    size = 2 * round(rate * FRAME_S)
    return [pcm[start : start + size] for start in range(0, len(pcm), size)]


def cpu_per_frame(run: Callable[[], None], frames: int, rounds: int) -> float:
    """Seconds of CPU per frame, best of `rounds` runs of `run` (which feeds all frames)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best / frames


def ours(from_rate: int, to_rate: int, frames: Frames) -> Callable[[], None]:
    def run() -> None:
        resampler = Resampler(from_rate, to_rate)
        for frame in frames:
            resampler.process(frame)
        resampler.flush()

    return run


def bare(from_rate: int, to_rate: int, frames: Frames) -> Callable[[], None]:
    floats: list[npt.NDArray[np.float32]] = [
        np.frombuffer(frame, dtype="<i2").astype(np.float32) for frame in frames
    ]

    def run() -> None:
        stream = soxr.ResampleStream(from_rate, to_rate, 1, dtype="float32", quality="HQ")
        for chunk in floats:
            stream.resample_chunk(chunk, last=False)
        stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)

    return run


def live_delay(from_rate: int, to_rate: int, frames: Frames) -> tuple[float, float, int]:
    """(mean ms, max ms) the output runs behind the input after each frame, and the number
    of frames that returned no output."""
    resampler = Resampler(from_rate, to_rate)
    fed = produced = silent = 0
    behind: list[float] = []
    for frame in frames:
        out = len(resampler.process(frame)) // 2
        fed += len(frame) // 2
        produced += out
        silent += out == 0
        behind.append((fed * to_rate / from_rate - produced) / to_rate * 1000)
    return float(np.mean(behind)), max(behind), silent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"\n{args.seconds:.0f} s per stream in 20 ms frames, best of {args.rounds} rounds")
    print(
        f"{'rates':<14}{'ours us/fr':>11}{'bare us/fr':>11}{'ours %core':>11}"
        f"{'ratio':>7}{'delay ms mean/max':>19}{'empty frames':>14}"
    )
    for from_rate, to_rate in RATE_PAIRS:
        frames = frames_of(from_rate, args.seconds, seed=from_rate + to_rate)
        count = len(frames)
        ours_s = cpu_per_frame(ours(from_rate, to_rate, frames), count, args.rounds)
        bare_s = cpu_per_frame(bare(from_rate, to_rate, frames), count, args.rounds)
        mean_ms, max_ms, silent = live_delay(from_rate, to_rate, frames)
        core = 100 * ours_s / FRAME_S
        print(
            f"{from_rate:>5} > {to_rate:<6}{ours_s * 1e6:11.1f}{bare_s * 1e6:11.1f}"
            f"{core:11.3f}{ours_s / bare_s:7.2f}{mean_ms:10.1f} /{max_ms:6.1f}"
            f"{silent:9d}/{count}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
