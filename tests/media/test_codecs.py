"""G.711 codecs against CPython's audioop and a plain transcription of the g711.c formulas."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from types import ModuleType

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter.media.codecs import (
    ALAW_DECODE_TABLE,
    ULAW_DECODE_TABLE,
    alaw_to_pcm16,
    pcm16_to_alaw,
    pcm16_to_ulaw,
    ulaw_to_pcm16,
)

ALL_CODES = bytes(range(256))
ALL_SAMPLES = np.arange(-32768, 32768, dtype="<i2")
Codec = Callable[[bytes], bytes]


@pytest.fixture(scope="module")
def audioop() -> ModuleType:
    """The stdlib reference (deprecated in 3.11, gone in 3.13 unless audioop-lts is there)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop
        except ImportError:  # pragma: no cover - Python 3.13+ without audioop-lts
            pytest.skip("audioop is not available")
    return audioop


# Plain-Python transcription of Sun's g711.c (the 14-bit mu-law / 13-bit A-law version).


def _ref_ulaw_decode(code: int) -> int:
    code = ~code & 0xFF
    t = ((code & 0x0F) << 3) + 0x84
    t <<= (code & 0x70) >> 4
    return 0x84 - t if code & 0x80 else t - 0x84


def _ref_alaw_decode(code: int) -> int:
    code ^= 0x55
    t = (code & 0x0F) << 4
    seg = (code & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if code & 0x80 else -t


def _ref_segment(value: int, ends: tuple[int, ...]) -> int:
    for segment, end in enumerate(ends):
        if value <= end:
            return segment
    return len(ends)


def _ref_ulaw_encode(sample: int) -> int:
    value = sample >> 2
    if value < 0:
        value, mask = -value, 0x7F
    else:
        mask = 0xFF
    value = min(value, 8159) + (0x84 >> 2)
    seg = _ref_segment(value, (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF))
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((value >> (seg + 1)) & 0x0F)) ^ mask


def _ref_alaw_encode(sample: int) -> int:
    value = sample >> 3
    if value >= 0:
        mask = 0xD5
    else:
        mask, value = 0x55, -value - 1
    seg = _ref_segment(value, (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF))
    if seg >= 8:
        return 0x7F ^ mask
    quant = (value >> 1 if seg < 2 else value >> seg) & 0x0F
    return ((seg << 4) | quant) ^ mask


def _values(pcm: bytes) -> list[int]:
    return [int(v) for v in np.frombuffer(pcm, dtype="<i2")]


def _native_values(pcm: bytes) -> list[int]:
    return [int(v) for v in np.frombuffer(pcm, dtype="=i2")]  # audioop uses host order


@pytest.mark.parametrize(
    ("decode", "reference"),
    [(ulaw_to_pcm16, _ref_ulaw_decode), (alaw_to_pcm16, _ref_alaw_decode)],
)
def test_every_code_decodes_like_the_g711_formulas(
    decode: Codec, reference: Callable[[int], int]
) -> None:
    assert _values(decode(ALL_CODES)) == [reference(code) for code in range(256)]


def test_every_code_decodes_like_audioop(audioop: ModuleType) -> None:
    assert _values(ulaw_to_pcm16(ALL_CODES)) == _native_values(audioop.ulaw2lin(ALL_CODES, 2))
    assert _values(alaw_to_pcm16(ALL_CODES)) == _native_values(audioop.alaw2lin(ALL_CODES, 2))


def test_known_values() -> None:
    # Silence codes and full scale, from the G.711 tables.
    assert _values(ulaw_to_pcm16(b"\xff\x7f\x80\x00")) == [0, 0, 32124, -32124]
    assert _values(alaw_to_pcm16(b"\xd5\x55\xaa\x2a")) == [8, -8, 32256, -32256]


def test_decode_tables_are_read_only() -> None:
    for table in (ULAW_DECODE_TABLE, ALAW_DECODE_TABLE):
        assert table.shape == (256,)
        with pytest.raises(ValueError, match="read-only"):
            table[0] = 1


def test_encoders_match_audioop_for_every_sample(audioop: ModuleType) -> None:
    native = ALL_SAMPLES.astype("=i2").tobytes()
    assert pcm16_to_ulaw(ALL_SAMPLES.tobytes()) == audioop.lin2ulaw(native, 2)
    assert pcm16_to_alaw(ALL_SAMPLES.tobytes()) == audioop.lin2alaw(native, 2)


@pytest.mark.parametrize(
    ("encode", "reference"),
    [(pcm16_to_ulaw, _ref_ulaw_encode), (pcm16_to_alaw, _ref_alaw_encode)],
)
def test_encoders_match_the_g711_formulas_for_every_sample(
    encode: Codec, reference: Callable[[int], int]
) -> None:
    expected = bytes(reference(int(sample)) for sample in ALL_SAMPLES)
    assert encode(ALL_SAMPLES.tobytes()) == expected


@pytest.mark.parametrize(
    ("encode", "decode"), [(pcm16_to_ulaw, ulaw_to_pcm16), (pcm16_to_alaw, alaw_to_pcm16)]
)
def test_round_trip_stays_within_one_quantisation_step(encode: Codec, decode: Codec) -> None:
    """Every sample comes back as one of the two G.711 levels around it (the nearer, give
    or take the encoder's truncation), or as the extreme level when it lies beyond it."""
    levels: npt.NDArray[np.int64] = np.unique(
        np.frombuffer(decode(ALL_CODES), dtype="<i2").astype(np.int64)
    )
    samples = ALL_SAMPLES.astype(np.int64)
    decoded = np.frombuffer(decode(encode(ALL_SAMPLES.tobytes())), dtype="<i2").astype(np.int64)
    clamped = np.clip(samples, levels[0], levels[-1])
    above = np.clip(np.searchsorted(levels, clamped), 1, len(levels) - 1)
    below_level, above_level = levels[above - 1], levels[above]
    assert np.all((decoded == below_level) | (decoded == above_level))
    inside = samples == clamped
    assert np.all(np.abs(decoded - samples)[inside] <= (above_level - below_level)[inside])
    assert np.all(decoded[~inside] == clamped[~inside])


@pytest.mark.parametrize("encode", [pcm16_to_ulaw, pcm16_to_alaw])
def test_encoders_reject_odd_byte_counts(encode: Codec) -> None:
    with pytest.raises(ValueError, match="whole 2-byte samples, got 3 bytes"):
        encode(b"\x00\x01\x02")


@pytest.mark.parametrize("encode", [pcm16_to_ulaw, pcm16_to_alaw])
def test_encoders_accept_empty_input(encode: Codec) -> None:
    assert encode(b"") == b""


@given(data=st.binary(max_size=2048))
def test_decoders_take_any_bytes_and_double_the_length(data: bytes) -> None:
    for decode in (ulaw_to_pcm16, alaw_to_pcm16):
        assert len(decode(data)) == 2 * len(data)
