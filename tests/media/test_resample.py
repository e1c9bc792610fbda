"""Streaming resampler: frequency and level kept, aliases removed, chunking invisible."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.media.resample import CHUNKING_TOLERANCE, Resampler

RATE_PAIRS = [(8000, 16000), (16000, 8000), (8000, 44100), (48000, 16000)]
Samples = npt.NDArray[np.float64]


def _tone(frequency: float, rate: int, seconds: float, amplitude: float = 10000.0) -> bytes:
    t = np.arange(round(rate * seconds)) / rate
    return np.rint(amplitude * np.sin(2 * np.pi * frequency * t)).astype("<i2").tobytes()


def _noise(samples: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return rng.integers(-20000, 20000, samples, dtype=np.int16).astype("<i2").tobytes()


def _as_float(pcm: bytes) -> Samples:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def _resample_whole(from_rate: int, to_rate: int, pcm: bytes) -> bytes:
    resampler = Resampler(from_rate, to_rate)
    return resampler.process(pcm) + resampler.flush()


def _rms(samples: Samples) -> float:
    return float(np.sqrt(np.mean(samples**2)))


def _steady(samples: Samples) -> Samples:
    """The middle of a signal: away from the start-up and flush transients."""
    margin = len(samples) // 10
    return samples[margin:-margin]


def test_upsampling_keeps_frequency_and_level() -> None:
    source = _tone(1000, 8000, 1.0)
    output = _as_float(_resample_whole(8000, 16000, source))
    assert len(output) == 16000
    spectrum = np.abs(np.fft.rfft(output))
    peak_hz = np.argmax(spectrum) * 16000 / len(output)
    assert peak_hz == pytest.approx(1000, abs=1)
    gain_db = 20 * np.log10(_rms(_steady(output)) / _rms(_steady(_as_float(source))))
    assert abs(gain_db) < 1.0


def test_upsampling_leaves_no_image() -> None:
    # A 3 kHz tone at 8 kHz images to 5 kHz when zero-stuffed; the filter must remove it.
    output = _steady(_as_float(_resample_whole(8000, 16000, _tone(3000, 8000, 1.0))))
    spectrum = np.abs(np.fft.rfft(output * np.hanning(len(output))))
    hz = np.fft.rfftfreq(len(output), 1 / 16000)
    image = spectrum[(hz > 4500) & (hz < 5500)].max()
    assert 20 * np.log10(image / spectrum.max()) < -40


def test_downsampling_keeps_a_tone_below_the_new_nyquist() -> None:
    source = _tone(1000, 16000, 1.0)
    output = _as_float(_resample_whole(16000, 8000, source))
    assert len(output) == 8000
    peak_hz = np.argmax(np.abs(np.fft.rfft(output))) * 8000 / len(output)
    assert peak_hz == pytest.approx(1000, abs=1)
    gain_db = 20 * np.log10(_rms(_steady(output)) / _rms(_steady(_as_float(source))))
    assert abs(gain_db) < 1.0


def test_downsampling_removes_what_would_alias() -> None:
    # 6 kHz is above 8 kHz's Nyquist: without a low-pass it would come back as 2 kHz.
    source = _tone(6000, 16000, 1.0)
    output = _as_float(_resample_whole(16000, 8000, source))
    with np.errstate(divide="ignore"):  # removed completely, it leaves silence: -inf dB
        attenuation_db = 20 * np.log10(_rms(_steady(output)) / _rms(_as_float(source)))
    assert attenuation_db <= -40


@pytest.mark.parametrize("rate", [8000, 16000])
def test_equal_rates_pass_audio_through(rate: int) -> None:
    resampler = Resampler(rate, rate)
    pcm = _noise(321, seed=1)
    assert resampler.process(pcm) == pcm
    assert resampler.process(b"") == b""
    assert resampler.flush() == b""


@pytest.mark.parametrize("rate", [8000, 16000])
def test_odd_byte_counts_are_rejected(rate: int) -> None:
    for to_rate in (8000, 16000):
        with pytest.raises(ValueError, match="whole 2-byte samples, got 5 bytes"):
            Resampler(rate, to_rate).process(b"\x00" * 5)


@pytest.mark.parametrize(("from_rate", "to_rate"), [(0, 8000), (8000, -1), (8000, 44101)])
def test_unusable_rates_are_rejected(from_rate: int, to_rate: int) -> None:
    with pytest.raises(ValueError, match=r"rates must be positive|filter phases"):
        Resampler(from_rate, to_rate)


def test_silence_stays_silent() -> None:
    assert _resample_whole(8000, 16000, bytes(640)) == bytes(1280)


def test_flush_makes_the_resampler_ready_for_a_new_stream() -> None:
    resampler = Resampler(8000, 16000)
    pcm = _noise(800, seed=2)
    first = resampler.process(pcm) + resampler.flush()
    assert resampler.process(pcm) + resampler.flush() == first


@pytest.mark.parametrize(("from_rate", "to_rate"), RATE_PAIRS)
@given(samples=st.integers(min_value=0, max_value=3000))
@settings(max_examples=25, deadline=None)
def test_output_length_follows_the_rate_ratio(from_rate: int, to_rate: int, samples: int) -> None:
    output = _resample_whole(from_rate, to_rate, _noise(samples, seed=samples))
    assert abs(len(output) // 2 - samples * to_rate / from_rate) <= 1


@pytest.mark.parametrize(("from_rate", "to_rate"), RATE_PAIRS)
@given(chunk_sizes=st.lists(st.integers(min_value=0, max_value=700), max_size=30))
@settings(max_examples=40, deadline=None)
def test_chunked_output_matches_whole_output(
    from_rate: int, to_rate: int, chunk_sizes: list[int]
) -> None:
    """Same result for any chunking, to within CHUNKING_TOLERANCE int16 steps."""
    total = sum(chunk_sizes)
    pcm = _noise(total, seed=total)
    whole = _as_float(_resample_whole(from_rate, to_rate, pcm))
    resampler = Resampler(from_rate, to_rate)
    pieces = []
    offset = 0
    for size in chunk_sizes:
        pieces.append(resampler.process(pcm[2 * offset : 2 * (offset + size)]))
        offset += size
    chunked = _as_float(b"".join(pieces) + resampler.flush())
    assert len(chunked) == len(whole)
    assert np.all(np.abs(chunked - whole) <= CHUNKING_TOLERANCE)


def test_twenty_millisecond_frames_match_the_whole_signal() -> None:
    pcm = _tone(440, 8000, 2.0) + _noise(8000, seed=3)
    whole = _as_float(_resample_whole(8000, 16000, pcm))
    resampler = Resampler(8000, 16000)
    frames = [resampler.process(pcm[i : i + 320]) for i in range(0, len(pcm), 320)]
    chunked = _as_float(b"".join(frames) + resampler.flush())
    assert np.all(np.abs(chunked - whole) <= CHUNKING_TOLERANCE)
