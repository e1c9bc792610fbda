"""The supervisor's view of a run: follows `/ws/wallboard` and notes every `alert.raised`
in the ledger, reconnecting (and resuming from the last sequence number) if it drops."""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from callcenter.backoff import Backoff
from callcenter.simulate.agents import frame_events
from callcenter.simulate.api import ServerApi
from callcenter.simulate.ledger import Ledger

logger = logging.getLogger(__name__)


class AlertsFeed:
    def __init__(self, api: ServerApi, ledger: Ledger, *, token: str) -> None:
        self._api = api
        self._ledger = ledger
        self._token = token
        self._seq: int | None = None
        self._seen: set[str] = set()
        self.connected = asyncio.Event()

    async def run(self) -> None:
        """Until cancelled."""
        delay = Backoff(0.5, 8.0).ceiling
        failures = 0
        while True:
            try:
                await self._follow()
                failures = 0
            except (aiohttp.ClientError, TimeoutError, ConnectionError) as error:
                failures += 1
                logger.warning("wallboard feed lost: %s", error)
            except Exception as error:
                # task boundary: a message we could not handle; counted, and we reconnect
                failures += 1
                self._ledger.failures.append(f"wallboard feed: {error!r}")
                logger.exception("wallboard feed failed")
            self.connected.clear()
            await asyncio.sleep(delay(max(1, failures)))

    async def _follow(self) -> None:
        url = self._api.url("/ws/wallboard").replace("http", "ws", 1)
        if self._seq is not None:
            url += f"?since={self._seq}"
        headers = {"Authorization": f"Bearer {self._token}"}
        async with self._api.session.ws_connect(url, headers=headers, heartbeat=20.0) as socket:
            async for message in socket:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                for event in frame_events(message.data):
                    if isinstance(event.get("seq"), int):
                        self._seq = event["seq"]
                    if event.get("type") == "snapshot":
                        self.connected.set()
                    elif event.get("type") == "alert.raised":
                        self._alert(event.get("data") or {})

    def _alert(self, alert: dict[str, object]) -> None:
        alert_id = str(alert.get("id", ""))
        if alert_id in self._seen:  # a replay after a reconnect
            return
        self._seen.add(alert_id)
        self._ledger.alert(str(alert.get("call_id", "")), str(alert.get("rule", "?")))
