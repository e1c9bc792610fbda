"""Streaming sample-rate conversion of PCM16 audio for one call leg (e.g. 8 kHz to 16 kHz).

A rational polyphase resampler with a Kaiser-windowed sinc kernel that is also the
anti-aliasing low-pass when downsampling. State (input history and the position of the next
output sample) is kept between calls, so a stream fed in chunks of any size gives the same
output as fed at once, to within CHUNKING_TOLERANCE (floating-point summation order only).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

_PCM16 = np.dtype("<i2")
_FLOAT_BYTES = np.dtype(np.float64).itemsize

CHUNKING_TOLERANCE = 1
"""Largest difference, in int16 steps, between chunked and all-at-once output samples."""

PASSBAND = 0.95
"""Cutoff, as a fraction of the lower rate's Nyquist frequency (3.8 kHz for 8 kHz)."""
TRANSITION = 0.2
"""Width of the transition band, centred on the cutoff, as a fraction of that Nyquist."""
STOPBAND_DB = 70.0
"""Kaiser design attenuation: images and aliases beyond the transition band."""
MAX_PHASES = 1000
"""Largest reduced up-sampling factor accepted (8000 to 44100 needs 441)."""


def _design_kernel(up: int, down: int, from_rate: int) -> tuple[npt.NDArray[np.float64], int]:
    """Kernel taps per phase (`up` rows of 2 * half_width taps) and the half width.

    Row p holds the weights of inputs base - half_width + 1 .. base + half_width for an
    output lying p / up input samples after input `base`.
    """
    lower_nyquist = min(up, down) / down * from_rate / 2  # Hz (reduced: no float drift)
    cutoff = PASSBAND * lower_nyquist / from_rate  # cycles per input sample
    transition = TRANSITION * lower_nyquist / from_rate
    # Kaiser's formulas for the window length and shape at the wanted attenuation.
    length = (STOPBAND_DB - 8.0) / (2.285 * 2.0 * math.pi * transition)
    half_width = max(2, math.ceil(length / 2))
    beta = 0.1102 * (STOPBAND_DB - 8.7)
    phases = np.arange(up, dtype=np.float64)[:, None] / up
    taps = np.arange(-(half_width - 1), half_width + 1, dtype=np.float64)[None, :]
    offset = phases - taps  # time from each input to the output, in input samples
    window = np.i0(beta * np.sqrt(np.clip(1.0 - (offset / half_width) ** 2, 0.0, 1.0)))
    kernel = 2.0 * cutoff * np.sinc(2.0 * cutoff * offset) * window / np.i0(beta)
    kernel /= kernel.sum(axis=1, keepdims=True)  # exact unity gain at DC for every phase
    kernel.flags.writeable = False
    return kernel, half_width


class Resampler:
    """Converts one stream of mono PCM16 (int16 little-endian) from `from_rate` to `to_rate`.

    `process` returns what can be computed so far (the kernel needs a little look-ahead, so
    output lags input by about half the kernel); `flush` ends the stream, returns the rest
    and makes the resampler ready for a new stream. Over a whole stream the output has
    ceil(inputs * to_rate / from_rate) samples; output n is the input at time n / to_rate.
    Raises ValueError for rates that are not positive or too far from a simple ratio.
    """

    def __init__(self, from_rate: int, to_rate: int) -> None:
        if from_rate <= 0 or to_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
        common = math.gcd(from_rate, to_rate)
        self.from_rate = from_rate
        self.to_rate = to_rate
        self._up = to_rate // common
        self._down = from_rate // common
        if self._up > MAX_PHASES:
            raise ValueError(
                f"resampling {from_rate} -> {to_rate} needs {self._up} filter phases"
                f" (at most {MAX_PHASES})"
            )
        self._identity = from_rate == to_rate
        self._kernel, self._half_width = _design_kernel(self._up, self._down, from_rate)
        self._reset()

    def _reset(self) -> None:
        # Inputs before the stream are silence: the first outputs see zeros, not garbage.
        self._history: npt.NDArray[np.float64] = np.zeros(self._half_width - 1)
        self._history_start = 1 - self._half_width  # stream index of _history[0]
        self._inputs = 0  # samples received so far
        self._next_output = 0  # stream index of the next output sample

    def process(self, pcm: bytes) -> bytes:
        """Feed PCM16 samples; return the output samples they complete (maybe none).

        Raises ValueError when `pcm` has an odd number of bytes.
        """
        if len(pcm) % 2:
            raise ValueError(f"PCM16 input must be whole 2-byte samples, got {len(pcm)} bytes")
        if self._identity:
            return pcm
        samples = np.frombuffer(pcm, dtype=_PCM16)
        self._inputs += len(samples)
        # Output n lies at input time n * down / up and needs inputs up to floor(that) + hw.
        ready = -(-(self._inputs - self._half_width) * self._up // self._down)
        return self._run(samples, ready)

    def flush(self) -> bytes:
        """End the stream: return the remaining output (inputs past the end are silence)."""
        if self._identity:
            return b""
        total = -(-self._inputs * self._up // self._down)
        pending = self._run(np.zeros(self._half_width, dtype=_PCM16), total)
        self._reset()
        return pending

    def _run(self, samples: npt.NDArray[np.int16], end: int) -> bytes:
        """Append `samples` to the history and compute outputs up to (excluding) `end`."""
        buffer = np.concatenate((self._history, samples), dtype=np.float64)
        first = self._next_output
        count = max(0, end - first)
        output = np.empty(count, dtype=np.float64)
        taps = 2 * self._half_width
        # Outputs first + r, first + r + up, ... share kernel phase and step `down` inputs.
        for r in range(min(self._up, count)):
            position = (first + r) * self._down
            base, phase = divmod(position, self._up)
            rows = (count - r + self._up - 1) // self._up
            start = base - (self._half_width - 1) - self._history_start
            windows: npt.NDArray[np.float64] = np.ndarray(
                (rows, taps),
                dtype=np.float64,
                buffer=buffer,
                offset=start * _FLOAT_BYTES,
                strides=(self._down * _FLOAT_BYTES, _FLOAT_BYTES),
            )
            output[r :: self._up] = windows @ self._kernel[phase]
        self._next_output = first + count
        keep_from = min(
            self._next_output * self._down // self._up - (self._half_width - 1),
            self._history_start + len(buffer),
        )
        self._history = buffer[keep_from - self._history_start :]
        self._history_start = keep_from
        np.rint(output, out=output)
        output.clip(-32768, 32767, out=output)
        return output.astype(_PCM16).tobytes()
