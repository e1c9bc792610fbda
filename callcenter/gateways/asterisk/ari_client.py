"""The ARI events websocket: connect as the application, reconcile (events may have been
missed while away), then hand each event to call control: in Asterisk's order for each
call, calls side by side (call_lanes); reconnect with the one retry policy when the
connection drops or is refused.

A frame that is not an ARI event is logged and counted
(`callcenter_events_total{dialect="asterisk",type="unknown",result="invalid"}`) and the
connection stays: one bad frame says nothing about the next."""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from callcenter.backoff import Backoff
from callcenter.errors import InvalidInput
from callcenter.gateways.asterisk.ari_calls import AriCalls
from callcenter.gateways.asterisk.ari_events import (
    DIALECT,
    MAX_FRAME_BYTES,
    call_of,
    decode_event,
)
from callcenter.gateways.asterisk.ari_rest import AriError, AriRest
from callcenter.gateways.asterisk.call_lanes import CallLanes
from callcenter.metrics import Metrics

logger = logging.getLogger(__name__)

_TASK = "asterisk_ari"


class AriEventsClient:
    """`start()` runs the connection as an owned task; `await stop()` ends it. Nothing
    raises out of the task."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        rest: AriRest,
        calls: AriCalls,
        *,
        app: str,
        metrics: Metrics,
        backoff: Backoff | None = None,
        heartbeat_seconds: float = 20.0,
    ) -> None:
        self._session = session
        self._rest = rest
        self._calls = calls
        self._app = app
        self._metrics = metrics
        self._backoff = backoff or Backoff(0.5, 30.0)
        self._heartbeat = heartbeat_seconds
        self._task: asyncio.Task[None] | None = None
        self._lanes = CallLanes(metrics=metrics)
        self._connected = asyncio.Event()
        self._sessions = 0

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def sessions(self) -> int:
        """Connections made so far (each one reconciled)."""
        return self._sessions

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the ARI client is already started")
        self._task = asyncio.create_task(self._run(), name=f"ari {self._app}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.wait({task})
        await self._lanes.close()

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                failures = 0 if await self._session_once() else failures + 1
                why = "closed"
            except (aiohttp.ClientError, AriError, OSError, TimeoutError) as error:
                failures += 1
                why = str(error) or type(error).__name__
            except Exception:  # the task boundary: log, count, reconnect
                logger.exception("ARI session failed")
                self._metrics.task_errors_total.labels(_TASK).inc()
                failures += 1
                why = "unexpected error"
            self._connected.clear()
            delay = self._backoff.delay(max(failures, 1))
            logger.warning("ARI events connection ended (%s); reconnecting in %.1f s", why, delay)
            await asyncio.sleep(delay)

    async def _session_once(self) -> bool:
        """One connection, until it ends; True when it got as far as reconciling."""
        async with self._session.ws_connect(
            self._rest.events_url,
            params={"app": self._app},
            headers=self._rest.auth_headers,
            heartbeat=self._heartbeat,
            max_msg_size=MAX_FRAME_BYTES,
        ) as socket:
            self._sessions += 1
            self._connected.set()
            logger.info("ARI events connected as application %r", self._app)
            # subscribed first, then reconciled: an event in between is seen twice at
            # worst (a duplicate), never lost
            await self._calls.reconcile()
            async for message in socket:
                if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    await self._frame(message.data)
                elif message.type is aiohttp.WSMsgType.ERROR:
                    break
            return True

    async def _frame(self, data: str | bytes) -> None:
        try:
            event = decode_event(data)
        except InvalidInput as error:
            logger.warning("ARI frame refused: %s", error)
            self._metrics.events_total.labels(DIALECT, "unknown", "invalid").inc()
            return
        call = call_of(event)
        if call is not None:
            await self._lanes.submit(call, lambda: self._calls.handle(event))

    async def wait_connected(self) -> None:
        await self._connected.wait()
