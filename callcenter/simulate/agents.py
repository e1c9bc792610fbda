"""Agent bots: each logs in on `/ws/agent` with its own token, goes available, accepts
offers after the call's think time, and after the call ends wraps up for the call's
wrap-up time (disposition, notes, then wrap-up done). Text tasks (chat, SMS, email) are
worked several at a time by agent_texts.py. A bot checks what the server offers it against
what it knows (its skills), notes what it holds for the checks after the run
(text_checks.py), and reconnects with back-off if its socket drops."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import aiohttp

from callcenter.backoff import Backoff
from callcenter.simulate.agent_texts import TextWork, our_time
from callcenter.simulate.api import GONE, ServerApi, ServerRefused, ServerUnreachable
from callcenter.simulate.conversations import Conversations
from callcenter.simulate.holdings import VOICE, Span
from callcenter.simulate.ledger import Ledger
from callcenter.simulate.scenario import TEXT_CHANNELS, AgentSpec

logger = logging.getLogger(__name__)


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
        conversations: Conversations | None = None,
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
        self._version = -1  # of the newest agent document seen
        self._texts = TextWork(
            spec.id,
            token,
            api,
            ledger,
            conversations=conversations or Conversations(clock=clock),
            clock=clock,
        )
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
        agent = event.get("agent") or {}
        for task_id in agent.get("tasks") or {}:
            self._spawn(self._texts.resume(str(task_id)))
        self._agent_changed(agent)

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
        decision = offer.get("decision") or {}
        offered_at = self._offer_time(decision)
        queue = str(call.get("queue", ""))
        if call.get("channel") in TEXT_CHANNELS and reservation:
            self._check_skills(call_id, decision)
            channel = str(call["channel"])
            await self._texts.offer(call_id, str(reservation), channel, queue, offered_at)
            return
        record = self._ledger.record(call_id)
        if record is None or not reservation:
            self._ledger.notes["offers of calls this run did not place"] += 1
            return
        record.offers.append((offered_at, self.spec.id))
        self._ledger.holdings.hold(self.spec.id, Span(call_id, VOICE, queue, offered_at))
        self._check_skills(call_id, decision)
        await asyncio.sleep(record.plan.think_seconds)
        what = f"agent {self.spec.id} accepting {call_id}"
        if not await self._api.accept_offer(reservation, token=self._token, what=what):
            self._ledger.holdings.lost(call_id, self._clock())
            self._ledger.notes["offers gone before the agent accepted"] += 1
            return
        record.accepted_by = self.spec.id
        record.accepts.append(self.spec.id)
        record.offered_at = offered_at
        self._on_accepted(call_id, self.spec.id)

    def _check_skills(self, call_id: str, decision: dict[str, Any]) -> None:
        for skill, level in (decision.get("required") or {}).items():
            if self.spec.skills.get(skill, 0) < level:
                self._ledger.routing_error(
                    f"{call_id}: offered to {self.spec.id}, whose {skill} is "
                    f"{self.spec.skills.get(skill, 0)}, though the decision required {level}"
                )

    def _offer_time(self, decision: dict[str, Any]) -> float:
        """When the server reserved this agent (its decision's time, on our clock); when
        the offer reached us if the decision has no time."""
        decided = our_time(self._clock, decision.get("decided_at"))
        return self._clock() if decided is None else decided

    def _agent_changed(self, agent: dict[str, Any]) -> None:
        call_id = agent.get("call_id")
        if agent.get("activity") == "wrap_up" and call_id:
            self.call_ended(str(call_id))
        version = agent.get("version")
        if not isinstance(version, int) or version <= self._version:
            return  # older than one seen: documents from two instances may cross
        self._version = version
        since = our_time(self._clock, agent.get("activity_since"))
        if since is not None:
            holds = None if agent.get("activity") == "idle" else agent.get("call_id")
            self._ledger.holdings.on_voice(self.spec.id, holds and str(holds), since, self._clock())

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
                ok=(200, *GONE),
                what=f"agent {self.spec.id} wrapping up {call_id}",
            )
        self._ledger.holdings.releasing(call_id, self._clock())
        status, _ = await self._api.request(
            "POST",
            f"/v1/agents/{self.spec.id}/wrap-up/done",
            token=self._token,
            ok=(200, *GONE),
            what=f"agent {self.spec.id} ending wrap-up",
        )
        self._ledger.holdings.released(call_id, self._clock())
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
                ok=(200, *GONE),
            )
