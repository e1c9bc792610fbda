"""Alerts: each rule fires once per call (a marker taken with SET NX, so two instances
hearing the same call cannot both fire it), and the latest alerts are kept in a capped
stream for the wallboard's feed."""

from __future__ import annotations

from datetime import timedelta

import msgspec

from callcenter.domain.alerts import Ack, Alert
from callcenter.storage import keys
from callcenter.storage.resp import RespClient

ALERTS_KEPT = 1000

_DECODER = msgspec.json.Decoder(Alert)
_ACK = msgspec.json.Decoder(Ack)


class AlertRepository:
    def __init__(self, client: RespClient, *, retention: timedelta) -> None:
        self._client = client
        self._ttl = int(retention.total_seconds())

    async def claim(self, call_id: str, rule: str) -> bool:
        """True for the first claim of this rule on this call, False ever after."""
        taken = await self._client.execute(
            "SET", keys.alert_fired(call_id, rule), "1", "NX", "EX", self._ttl
        )
        return taken is not None

    async def append(self, alert: Alert) -> None:
        await self._client.execute(
            "XADD", keys.ALERTS, "MAXLEN", "~", ALERTS_KEPT, "*", "a", msgspec.json.encode(alert)
        )

    async def recent(self, limit: int = 100) -> list[tuple[Alert, Ack | None]]:
        """The latest alerts, newest first, each with its acknowledgement if it has one."""
        rows = await self._client.execute("XREVRANGE", keys.ALERTS, "+", "-", "COUNT", limit)
        alerts = [_DECODER.decode(fields[1]) for _, fields in rows]
        if not alerts:
            return []
        acks = await self._client.execute("HMGET", keys.ALERTS_ACKED, *[a.id for a in alerts])
        return [
            (alert, _ACK.decode(ack) if ack is not None else None)
            for alert, ack in zip(alerts, acks, strict=True)
        ]

    async def find(self, alert_id: str, within: int = ALERTS_KEPT) -> Alert | None:
        for alert, _ in await self.recent(within):
            if alert.id == alert_id:
                return alert
        return None

    async def acknowledge(self, ack: Ack) -> bool:
        """Record an acknowledgement; False if the alert was acknowledged already."""
        first = await self._client.execute(
            "HSETNX", keys.ALERTS_ACKED, ack.id, msgspec.json.encode(ack)
        )
        if (
            int(first)
            and int(await self._client.execute("HLEN", keys.ALERTS_ACKED)) > 2 * ALERTS_KEPT
        ):
            await self._trim_acks()
        return bool(int(first))

    async def _trim_acks(self) -> None:
        kept = {a.id for a, _ in await self.recent(ALERTS_KEPT)}
        known = [m.decode() for m in await self._client.execute("HKEYS", keys.ALERTS_ACKED)]
        gone = [alert_id for alert_id in known if alert_id not in kept]
        if gone:
            await self._client.execute("HDEL", keys.ALERTS_ACKED, *gone)
