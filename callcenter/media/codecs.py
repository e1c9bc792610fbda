"""G.711 mu-law and A-law: decoding to PCM16 by table lookup and vectorised encoding.

Bit-exact with ITU-T G.711 as implemented by the Sun g711.c reference (and by CPython's
audioop): mu-law is encoded from the top 14 bits of a sample, A-law from the top 13.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# Output byte order is fixed (little-endian) whatever the host's.
_PCM16 = np.dtype("<i2")

_SIGN_BIT = 0x80
_QUANT_MASK = 0x0F
_SEG_SHIFT = 4
_SEG_MASK = 0x70

_ULAW_BIAS = 0x84  # 132: added before the segment search, in 16-bit units
_ULAW_CLIP = 8159  # largest 14-bit magnitude that still fits after adding the bias
# Upper bound of each mu-law segment, 14-bit magnitudes after adding _ULAW_BIAS >> 2.
_ULAW_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
# Upper bound of each A-law segment, 13-bit magnitudes.
_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)


def _ulaw_decode_table() -> npt.NDArray[np.int16]:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF  # codes are stored complemented
    magnitude = ((codes & _QUANT_MASK) << 3) + _ULAW_BIAS
    magnitude <<= (codes & _SEG_MASK) >> _SEG_SHIFT
    values = np.where(codes & _SIGN_BIT, _ULAW_BIAS - magnitude, magnitude - _ULAW_BIAS)
    table = values.astype(_PCM16)
    table.flags.writeable = False
    return table


def _alaw_decode_table() -> npt.NDArray[np.int16]:
    codes = np.arange(256, dtype=np.int32) ^ 0x55  # even bits are stored inverted
    segment = (codes & _SEG_MASK) >> _SEG_SHIFT
    magnitude = (codes & _QUANT_MASK) << 4
    magnitude = np.where(
        segment == 0,
        magnitude + 8,
        (magnitude + 0x108) << np.maximum(segment - 1, 0),
    )
    values = np.where(codes & _SIGN_BIT, magnitude, -magnitude)
    table = values.astype(_PCM16)
    table.flags.writeable = False
    return table


ULAW_DECODE_TABLE = _ulaw_decode_table()
"""PCM16 value of each of the 256 mu-law codes (read-only)."""
ALAW_DECODE_TABLE = _alaw_decode_table()
"""PCM16 value of each of the 256 A-law codes (read-only)."""


def ulaw_to_pcm16(data: bytes) -> bytes:
    """Decode mu-law bytes to PCM16 (int16 little-endian); the output is twice as long."""
    return ULAW_DECODE_TABLE[np.frombuffer(data, dtype=np.uint8)].tobytes()


def alaw_to_pcm16(data: bytes) -> bytes:
    """Decode A-law bytes to PCM16 (int16 little-endian); the output is twice as long."""
    return ALAW_DECODE_TABLE[np.frombuffer(data, dtype=np.uint8)].tobytes()


def _samples(pcm: bytes) -> npt.NDArray[np.int32]:
    if len(pcm) % 2:
        raise ValueError(f"PCM16 input must be whole 2-byte samples, got {len(pcm)} bytes")
    return np.frombuffer(pcm, dtype=_PCM16).astype(np.int32)


def pcm16_to_ulaw(pcm: bytes) -> bytes:
    """Encode PCM16 (int16 little-endian) to mu-law, one byte per sample.

    Raises ValueError when `pcm` has an odd number of bytes.
    """
    value = _samples(pcm) >> 2  # arithmetic shift: 14-bit range, as in g711.c
    negative = value < 0
    mask = np.where(negative, 0x7F, 0xFF)
    magnitude = np.minimum(np.where(negative, -value, value), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    segment = np.searchsorted(_ULAW_SEG_END, magnitude).astype(np.int32)
    code = (segment << _SEG_SHIFT) | ((magnitude >> (segment + 1)) & _QUANT_MASK)
    # Clipped magnitudes land just past the last segment: g711.c maps them to 0x7F.
    code = np.where(segment >= len(_ULAW_SEG_END), 0x7F, code)
    return (code ^ mask).astype(np.uint8).tobytes()


def pcm16_to_alaw(pcm: bytes) -> bytes:
    """Encode PCM16 (int16 little-endian) to A-law, one byte per sample.

    Raises ValueError when `pcm` has an odd number of bytes.
    """
    value = _samples(pcm) >> 3  # arithmetic shift: 13-bit range, as in g711.c
    negative = value < 0
    mask = np.where(negative, 0x55, 0xD5)
    magnitude = np.where(negative, -value - 1, value)  # at most 0xFFF: never past segment 7
    segment = np.searchsorted(_ALAW_SEG_END, magnitude).astype(np.int32)
    shift = np.maximum(segment, 1)  # segments 0 and 1 share the same step
    code = (segment << _SEG_SHIFT) | ((magnitude >> shift) & _QUANT_MASK)
    return (code ^ mask).astype(np.uint8).tobytes()
