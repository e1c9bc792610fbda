"""CPU time spent by processes (from /proc) and by a Redis server (INFO cpu), read before
and after a measured slice: a load figure that noise on a shared machine barely moves."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from callcenter.storage.resp import RespClient

_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pids: Sequence[int]) -> float:
    """User plus system CPU seconds of `pids` so far (a process gone counts 0)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / _TICKS


async def redis_cpu_seconds(client: RespClient) -> float:
    """CPU seconds the Redis server has used (user plus system, all its threads)."""
    info = await client.execute("INFO", "cpu")
    values = dict(line.split(":", 1) for line in info.decode().splitlines() if ":" in line)
    return float(values["used_cpu_user"]) + float(values["used_cpu_sys"])


@dataclass(frozen=True, slots=True)
class CpuReading:
    servers: float
    redis: float


class CpuMeter:
    """Reads the CPU time of a target's server processes and of the shared Redis."""

    def __init__(self, redis: RespClient) -> None:
        self._redis = redis

    async def read(self, pids: Sequence[int]) -> CpuReading:
        return CpuReading(process_cpu_seconds(pids), await redis_cpu_seconds(self._redis))
