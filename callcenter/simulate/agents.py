"""Agent bots: each logs in on `/ws/agent` with its own token, goes available, accepts
offers after the call's think time, and after the call ends wraps up for the call's
wrap-up time (disposition, notes, then wrap-up done). A bot checks what the server offers
it against what it knows (its skills) and reconnects with back-off if its socket drops."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from typing import Any

import aiohttp

from callcenter.backoff import Backoff
from callcenter.simulate.api import ServerApi, ServerRefused, ServerUnreachable
from callcenter.simulate.ledger import Ledger
from callcenter.simulate.scenario import AgentSpec

logger = logging.getLogger(__name__)

CONFLICTS = (404, 409)  # the offer or call went away meanwhile: a race, not an error


def frame_events(text: str) -> list[dict[str, Any]]:
    """The events of one live-socket frame: one object, or an array of them in order."""
    payload = json.loads(text)
    events = payload if isinstance(payload, list) else [payload]
    return [event for event in events if isinstance(event, dict)]


class AgentBot:
    def __init__(
        self,
        spec: AgentSpec,
        token: str,
        api: ServerApi,
        ledger: Ledger,
        *,
        on_accepted: Callable[[str, str], None],
        clock: Callable[[], float],
    ) -> None:
        self.spec = spec
        self._token = token
        self._api = api
        self._ledger = ledger
        self._on_accepted = on_accepted
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self._wrapping: set[str] = set()  # calls whose wrap-up this bot has started
        self._seq: int | None = None
        self._available = False
        self.connected = asyncio.Event()

    @property
    def socket_url(self) -> str:
        return self._api.url("/ws/agent").replace("http", "ws", 1)

    async def run(self) -> None:
        """Follow the desktop feed until cancelled, reconnecting with back-off."""
        delay = Backoff(0.5, 8.0).ceiling
        failures = 0
        while True:
            try:
                await self._session()
                failures = 0
            except (aiohttp.ClientError, TimeoutError, ConnectionError) as error:
                failures += 1
                self._ledger.notes["agent socket reconnects"] += 1
                logger.warning("agent %s: socket lost (%s)", self.spec.id, error)
            except Exception as error:
                # task boundary: a message we could not handle; counted, and we reconnect
                failures += 1
                self._ledger.failures.append(f"agent {self.spec.id}: desktop feed: {error!r}")
                logger.exception("agent %s: desktop feed failed", self.spec.id)
            self.connected.clear()
            await asyncio.sleep(delay(max(1, failures)))

    async def _session(self) -> None:
        headers = {"Authorization": f"Bearer {self._token}"}
        url = self.socket_url + (f"?since={self._seq}" if self._seq is not None else "")
        async with self._api.session.ws_connect(url, headers=headers, heartbeat=20.0) as socket:
            async for message in socket:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                for event in frame_events(message.data):
                    await self._handle(event)

    async def _handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        seq = event.get("seq")
        if isinstance(seq, int):
            self._seq = seq
        if kind == "snapshot":
            await self._snapshot(event)
        elif kind == "route.offered":
            self._spawn(self._offer(event.get("data") or {}))
        elif kind == "agent.updated":
            self._agent_changed(event.get("data") or {})
        elif kind == "error":
            self._ledger.notes[f"agent socket errors: {event.get('code')}"] += 1

    async def _snapshot(self, event: dict[str, Any]) -> None:
        """The feed's first message: the bot is connected; it goes available once, then
        takes up the offer and the call the snapshot shows."""
        self.connected.set()
        if not self._available:
            await self._api.request(
                "POST",
                f"/v1/agents/{self.spec.id}/presence",
                json={"presence": "available"},
                token=self._token,
                what=f"agent {self.spec.id} going available",
            )
            self._available = True
        if event.get("offer"):
            self._spawn(self._offer(event["offer"]))
        self._agent_changed(event.get("agent") or {})

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._ledger.failures.append(f"agent {self.spec.id}: {task.exception()}")

    async def settle(self) -> None:
        """Return once the bot has nothing in hand (offers, wrap-ups)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def _offer(self, offer: dict[str, Any]) -> None:
        call = offer.get("call") or {}
        call_id = str(call.get("id", ""))
        reservation = (offer.get("reservation") or {}).get("id")
        record = self._ledger.record(call_id)
        if record is None or not reservation:
            self._ledger.notes["offers of calls this run did not place"] += 1
            return
        decision = offer.get("decision") or {}
        offered_at = self._offer_time(decision)
        record.offers.append((offered_at, self.spec.id))
        for skill, level in (decision.get("required") or {}).items():
            if self.spec.skills.get(skill, 0) < level:
                self._ledger.routing_error(
                    f"{call_id}: offered to {self.spec.id}, whose {skill} is "
                    f"{self.spec.skills.get(skill, 0)}, though the decision required {level}"
                )
        await asyncio.sleep(record.plan.think_seconds)
        status, _ = await self._api.request(
            "POST",
            f"/v1/reservations/{reservation}/accept",
            token=self._token,
            ok=(200, *CONFLICTS),
            what=f"agent {self.spec.id} accepting {call_id}",
        )
        if status != 200:
            self._ledger.notes["offers gone before the agent accepted"] += 1
            return
        record.accepted_by = self.spec.id
        record.accepts.append(self.spec.id)
        record.offered_at = offered_at
        self._on_accepted(call_id, self.spec.id)

    def _offer_time(self, decision: dict[str, Any]) -> float:
        """When the server reserved this agent (its decision's time, on our clock); when
        the offer reached us if the decision has no time."""
        decided = decision.get("decided_at")
        if isinstance(decided, str):
            try:
                at = datetime.fromisoformat(decided.replace("Z", "+00:00")).timestamp()
            except ValueError:
                return self._clock()
            return self._clock() - (time.time() - at)
        return self._clock()

    def _agent_changed(self, agent: dict[str, Any]) -> None:
        call_id = agent.get("call_id")
        if agent.get("activity") == "wrap_up" and call_id:
            self.call_ended(str(call_id))

    def call_ended(self, call_id: str) -> None:
        """The call is over (the desktop says so, or the agent's phone heard the caller
        hang up): wrap up, once."""
        if call_id not in self._wrapping:
            self._wrapping.add(call_id)
            self._spawn(self._wrap_up(call_id))

    async def _wrap_up(self, call_id: str) -> None:
        record = self._ledger.record(call_id)
        seconds = record.plan.wrap_up_seconds if record is not None else 0.0
        if seconds > 0:
            await asyncio.sleep(seconds)
            outcome = "resolved" if record is None or record.plan.mood != "angry" else "escalated"
            await self._api.request(
                "POST",
                f"/v1/calls/{call_id}/wrap-up",
                json={"disposition": outcome, "notes": "simulated call"},
                token=self._token,
                ok=(200, *CONFLICTS),
                what=f"agent {self.spec.id} wrapping up {call_id}",
            )
        status, _ = await self._api.request(
            "POST",
            f"/v1/agents/{self.spec.id}/wrap-up/done",
            token=self._token,
            ok=(200, *CONFLICTS),
            what=f"agent {self.spec.id} ending wrap-up",
        )
        if status != 200:
            self._ledger.notes["wrap-ups ended by the server's timer first"] += 1
        elif record is not None:
            record.agent_free_at = self._clock()

    async def log_off(self) -> None:
        """Stop acting on the feed and go offline (best effort)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with suppress(ServerRefused, ServerUnreachable, aiohttp.ClientError):
            await self._api.request(
                "POST",
                f"/v1/agents/{self.spec.id}/presence",
                json={"presence": "offline"},
                token=self._token,
                ok=(200, *CONFLICTS),
            )
