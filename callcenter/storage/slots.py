"""Redis Cluster hash slots: which of the 16,384 slots a key lives in (CRC16-XMODEM of
the key, or of its hash tag: the part between the first `{` and the next `}`, if not
empty). A Lua script may touch the keys of one slot only, in a Cluster; the keys of this
project share a tag wherever they must be changed together (`{cc}` for routing state)."""

from __future__ import annotations

import functools
from collections.abc import Iterable

SLOTS = 16_384


def _table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return table


_TABLE = _table()


def crc16(data: bytes) -> int:
    """CRC16-XMODEM (polynomial 0x1021, initial 0), as Redis Cluster computes it."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[((crc >> 8) ^ byte) & 0xFF]
    return crc


@functools.lru_cache(maxsize=65_536)
def key_slot(key: bytes | str) -> int:
    """The slot of `key` (remembered for the most recent keys: routing keys repeat)."""
    raw = key.encode() if isinstance(key, str) else key
    start = raw.find(b"{")
    if start >= 0:
        end = raw.find(b"}", start + 1)
        if end > start + 1:
            raw = raw[start + 1 : end]
    return crc16(raw) % SLOTS


def one_slot(keys: Iterable[bytes | str]) -> bool:
    """All `keys` in one slot (no keys: true)."""
    return len({key_slot(key) for key in keys}) <= 1
