"""Timers in one Redis sorted set: any instance may take due timers, each under a lease;
and the turn of the invariant sweep, which looks for timers nobody took."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from callcenter.domain.timers import Timer, TimerKind
from callcenter.storage import keys
from callcenter.storage.documents import CommitPlan, load_script
from callcenter.storage.resp import RespClient

LEASE_SECONDS = 30


def member_of(timer: Timer) -> str:
    """The sorted-set member naming one timer: ["kind", subject, ref]."""
    return msgspec.json.encode([timer.kind, timer.subject, timer.ref]).decode()


def timer_of(member: str, due: datetime) -> Timer | None:
    """The timer a member names, or None for a member this version does not know."""
    try:
        kind, subject, ref = msgspec.json.decode(member, type=tuple[TimerKind, str, str])
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return Timer(kind, subject, ref, due)


def schedule(plan: CommitPlan, timer: Timer) -> None:
    # The dispatch timer is one shared member: keep its earliest due time.
    only_lower = timer.kind is TimerKind.DISPATCH
    plan.zadd(keys.TIMERS, timer.at.timestamp(), member_of(timer), only_lower=only_lower)


class TimerRepository:
    def __init__(self, client: RespClient) -> None:
        self._client = client
        self._due = load_script("timers_due")
        self._done = load_script("timers_done")

    async def take_due(
        self, now: datetime, limit: int = 100
    ) -> tuple[float, list[tuple[str, Timer | None]]]:
        """Due timers, leased to this instance until the returned time; pass each member
        and that time to `done` once handled. An unhandled one fires again after the lease."""
        lease_until = now.timestamp() + LEASE_SECONDS
        members = await self._client.evalsha(
            self._due, [keys.TIMERS], [now.timestamp(), LEASE_SECONDS, limit]
        )
        texts = [m.decode() if isinstance(m, bytes) else str(m) for m in members]
        return lease_until, [(member, timer_of(member, now)) for member in texts]

    async def done(self, member: str, lease_until: float) -> None:
        """Remove a handled timer unless it was set again meanwhile."""
        await self._client.evalsha(self._done, [keys.TIMERS], [member, lease_until])

    async def overdue(self, before: datetime, limit: int = 100) -> list[tuple[str, Timer]]:
        """Timers due before `before` and not taken (a taken one's due time moves to the
        end of its lease): no timer loop is taking them."""
        rows = await self._client.execute(
            "ZRANGEBYSCORE",
            keys.TIMERS,
            "-inf",
            f"({before.timestamp()}",
            "WITHSCORES",
            "LIMIT",
            0,
            limit,
        )
        found = []
        for member, score in zip(rows[::2], rows[1::2], strict=True):
            name = member.decode()
            timer = timer_of(name, datetime.fromtimestamp(float(score), UTC))
            if timer is not None:
                found.append((name, timer))
        return found

    async def take_sweep_turn(self, instance: str, seconds: float) -> bool:
        """True for the one instance whose turn it is to sweep for `seconds`."""
        taken = await self._client.execute(
            "SET", keys.SWEEP_TURN, instance, "NX", "PX", int(seconds * 1000)
        )
        return taken is not None

    async def next_due(self) -> float | None:
        """Unix time of the earliest timer, if any."""
        first = await self._client.execute("ZRANGE", keys.TIMERS, 0, 0, "WITHSCORES")
        return float(first[1]) if first else None
