"""Alerts: each rule fires once per call (a marker taken with SET NX, so two instances
hearing the same call cannot both fire it), and the latest alerts are kept in a capped
stream for the wallboard's feed."""

from __future__ import annotations

from datetime import timedelta

import msgspec

from callcenter.domain.alerts import Alert
from callcenter.storage import keys
from callcenter.storage.resp import RespClient

ALERTS_KEPT = 1000

_DECODER = msgspec.json.Decoder(Alert)


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

    async def recent(self, limit: int = 100) -> list[Alert]:
        """The latest alerts, newest first."""
        rows = await self._client.execute("XREVRANGE", keys.ALERTS, "+", "-", "COUNT", limit)
        return [_DECODER.decode(fields[1]) for _, fields in rows]
