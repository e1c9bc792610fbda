"""The callbacks benchmark's harness: the app on an embedded redis-server, a loopback
generic gateway, the agent desks on their websockets, and one slice of live calls or
callbacks (see bench/callbacks.py for what is measured)."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
from aiohttp import web

from callcenter.app import create_app
from callcenter.settings import Secret, Settings
from callcenter.storage.embedded import embedded_redis
from callcenter.web.state import SERVICES

QUEUE = "general"
# wrap-up: 0 s, ended by the wrap-up timer; or long, ended by the agent at once (--wrap-up)
RULES = """\
queues:
  %s: {wrap_up_seconds: %d, reservation_seconds: 120, callback_max_attempts: 1}
rules:
  - {name: default, queue: %s}
"""
SLICE_TIMEOUT_SECONDS = 60.0
POLL_SECONDS = 0.005
# consecutive dial claims closer than this were fired in one busy spell of the timer loop
# (it sleeps up to 0.2 s when idle): their gap is what it costs per timer, one at a time
BUSY_GAP_SECONDS = 0.05
REPORTERS = 8
# what the gateway reports on the leg each webhook asks for
REPORTS = {
    "route.assigned": ("call.answered", "call.ended"),
    "route.callback": ("call.ringing", "call.answered", "call.ended"),
}
TARGET = {"baseline": "route.assigned", "callbacks": "route.callback"}


class BenchError(Exception):
    """Set-up failed or a slice did not finish."""


# --- wire: only the fields read --------------------------------------------------------


class Ref(msgspec.Struct):
    id: str


class Offer(msgspec.Struct):
    call: Ref
    reservation: Ref


class Pushed(msgspec.Struct):
    """One agent websocket message: a snapshot (`offer`) or a bus event (`data`)."""

    type: str
    agent_id: str | None = None
    offer: Offer | None = None
    data: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)


class AgentDoc(msgspec.Struct):
    id: str
    activity: str = "idle"


class AgentList(msgspec.Struct):
    agents: list[AgentDoc]


class Hook(msgspec.Struct):
    type: str
    call_id: str


class Made(msgspec.Struct):
    call_id: str


class DialDoc(msgspec.Struct):
    created_at: datetime
    claimed_at: datetime | None = None
    claims: int = 0


class CallbackDoc(msgspec.Struct):
    dial: DialDoc | None = None


class CallDoc(msgspec.Struct):
    callback: CallbackDoc | None = None


# --- what happened, stamped in this process (perf_counter, and time.time() for dials) --


@dataclass(slots=True)
class Ledger:
    seen: dict[str, float] = field(default_factory=dict)  # by call id: offer on the desk
    agent_of: dict[str, str] = field(default_factory=dict)
    answered: dict[str, tuple[float, float]] = field(default_factory=dict)  # accept answered
    hooks: dict[tuple[str, str], list[tuple[float, float]]] = field(default_factory=dict)
    reported: dict[str, float] = field(default_factory=dict)  # the gateway's batch answered
    idle: dict[str, list[float]] = field(default_factory=dict)  # by agent
    failures: list[str] = field(default_factory=list)

    def arrived(self, kind: str, call_id: str) -> bool:
        """Stamp a webhook; True for the first of its kind for the call."""
        stamps = self.hooks.setdefault((kind, call_id), [])
        stamps.append((time.perf_counter(), time.time()))
        return len(stamps) == 1

    def cycles(self, call_ids: Sequence[str]) -> list[tuple[float, float, float, float]]:
        """Each call's agent round trip, when that agent had a next offer among `call_ids`:
        offer seen -> accept answered -> ended reported -> agent idle -> next offer seen."""
        offers: dict[str, list[float]] = {}
        for call_id in call_ids:
            offers.setdefault(self.agent_of[call_id], []).append(self.seen[call_id])
        found = []
        for call_id in call_ids:
            agent, seen = self.agent_of[call_id], self.seen[call_id]
            answered, reported = self.answered[call_id][0], self.reported[call_id]
            idle = min((t for t in self.idle.get(agent, ()) if t > answered), default=None)
            following = min((t for t in offers[agent] if t > seen), default=None)
            if idle is not None and following is not None and following > idle:
                found.append(
                    (answered - seen, reported - answered, idle - reported, following - idle)
                )
        return found


class Gateway:
    """The generic gateway: stamps each `route.*` webhook, answers 204, and hands the legs
    to report on to the reporters."""

    def __init__(self, ledger: Ledger, reports: asyncio.Queue[tuple[str, str]]) -> None:
        self._ledger = ledger
        self._reports = reports

    async def webhook(self, request: web.Request) -> web.Response:
        hook = msgspec.json.decode(await request.read(), type=Hook)
        if self._ledger.arrived(hook.type, hook.call_id) and hook.type in REPORTS:
            self._reports.put_nowait((hook.type, hook.call_id))
        return web.Response(status=204)


class Api:
    """The callcenter's HTTP API as the bench uses it; a non-2xx answer is a failure."""

    def __init__(
        self, session: aiohttp.ClientSession, url: str, ledger: Ledger, *, admin: str, gateway: str
    ) -> None:
        self.session = session
        self.url = url
        self._ledger = ledger
        self.admin = {"Authorization": f"Bearer {admin}"}
        self.gateway = {"Authorization": f"Bearer {gateway}"}

    async def send(self, method: str, path: str, token: dict[str, str], body: Any = None) -> bytes:
        async with self.session.request(method, self.url + path, json=body, headers=token) as r:
            answer = await r.read()
            if r.status not in (200, 201, 204):
                self._ledger.failures.append(f"{method} {path}: {r.status} {answer[:200]!r}")
            return answer


async def report(
    api: Api, ledger: Ledger, reports: asyncio.Queue[tuple[str, str]], *, agent_ends: bool
) -> None:
    """A reporter: the gateway's events on each leg, in order, in one batch; then, with
    `agent_ends`, the agent ends its wrap-up at once."""
    while True:
        kind, call_id = await reports.get()
        events = [
            {"type": event, "event_id": f"{call_id}-{event}", "call_id": call_id}
            for event in REPORTS[kind]
        ]
        await api.send("POST", "/v1/events", api.gateway, events)
        ledger.reported[call_id] = time.perf_counter()
        if agent_ends:
            path = f"/v1/agents/{ledger.agent_of[call_id]}/wrap-up/done"
            await api.send("POST", path, api.admin)


async def desk(api: Api, ledger: Ledger, agent_id: str, token: str) -> None:
    """An agent's desktop: accepts every offer it is shown, once; notes when it is idle."""
    headers = {"Authorization": f"Bearer {token}"}
    decoder = msgspec.json.Decoder(list[Pushed] | Pushed)
    async with api.session.ws_connect(api.url + "/ws/agent") as ws:
        await ws.send_json({"type": "auth", "token": token})
        async for message in ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            decoded = decoder.decode(message.data)
            for pushed in decoded if isinstance(decoded, list) else [decoded]:
                offer = pushed.offer
                if pushed.type == "route.offered" and pushed.agent_id == agent_id:
                    offer = msgspec.json.decode(pushed.data, type=Offer)
                elif pushed.type == "agent.updated" and pushed.agent_id == agent_id:
                    if msgspec.json.decode(pushed.data, type=AgentDoc).activity == "idle":
                        ledger.idle.setdefault(agent_id, []).append(time.perf_counter())
                if offer is None or offer.call.id in ledger.seen:
                    continue
                ledger.seen[offer.call.id] = time.perf_counter()
                ledger.agent_of[offer.call.id] = agent_id
                await api.send("POST", f"/v1/reservations/{offer.reservation.id}/accept", headers)
                ledger.answered[offer.call.id] = (time.perf_counter(), time.time())


# --- slices -----------------------------------------------------------------------------


@dataclass(slots=True)
class Figures:
    latencies: list[float] = field(default_factory=list)  # accept answered -> webhook, s
    cycles: list[tuple[float, float, float, float]] = field(default_factory=list)
    offers: int = 0
    seconds: float = 0.0
    call_ids: list[str] = field(default_factory=list)

    def rate(self) -> float:
        return self.offers / self.seconds if self.seconds else math.nan


class Bench:
    def __init__(
        self, api: Api, ledger: Ledger, agents: Sequence[str], tasks: Sequence[asyncio.Task[None]]
    ) -> None:
        self._api = api
        self._ledger = ledger
        self._agents = agents
        self._tasks = tasks  # the desks and reporters: none may stop
        self._numbers = itertools.count(1)
        self.figures = {mode: Figures() for mode in TARGET}

    async def presence(self, presence: str) -> None:
        body = {"presence": presence}
        await asyncio.gather(
            *(
                self._api.send("POST", f"/v1/agents/{a}/presence", self._api.admin, body)
                for a in self._agents
            )
        )

    async def make_calls(self, mode: str, count: int) -> list[str]:
        numbers = [f"+1555{next(self._numbers):07d}" for _ in range(count)]
        if mode == "callbacks":
            made = [
                await self._api.send("POST", "/v1/callbacks", self._api.admin, {"number": n})
                for n in numbers
            ]
            return [msgspec.json.decode(answer, type=Made).call_id for answer in made]
        ids = [f"live{n[1:]}" for n in numbers]
        created = [
            {"type": "call.created", "event_id": f"{i}-c", "call_id": i, "from": n, "queue": QUEUE}
            for i, n in zip(ids, numbers, strict=True)
        ]
        await self._api.send("POST", "/v1/events", self._api.gateway, created)
        return ids

    async def until(self, done: Callable[[], Awaitable[bool]], what: str) -> None:
        deadline = time.perf_counter() + SLICE_TIMEOUT_SECONDS
        while not await done():
            stopped = next((t for t in self._tasks if t.done()), None)
            if stopped is not None:
                problem = None if stopped.cancelled() else stopped.exception()
                raise BenchError(f"{stopped.get_name()} stopped: {problem!r}")
            if time.perf_counter() > deadline or self._ledger.failures:
                raise BenchError(f"{what} did not happen within {SLICE_TIMEOUT_SECONDS:g} s")
            await asyncio.sleep(POLL_SECONDS)

    async def run_slice(self, mode: str, count: int, *, measured: bool = True) -> None:
        """Agents away, `count` calls made, agents available; done once every call's
        webhook came, the gateway reported on it and every agent is idle again."""
        ledger, kind = self._ledger, TARGET[mode]
        await self.presence("away")
        ids = await self.make_calls(mode, count)
        start = time.perf_counter()
        await self.presence("available")

        async def all_hooked() -> bool:
            return all(i in ledger.answered and (kind, i) in ledger.hooks for i in ids)

        async def all_reported_and_idle() -> bool:
            if not all(i in ledger.reported for i in ids):
                return False
            listed = await self._api.send("GET", "/v1/agents", self._api.admin)
            agents = msgspec.json.decode(listed, type=AgentList).agents
            return all(agent.activity == "idle" for agent in agents)

        await self.until(all_hooked, f"{mode}: {count} accepts and {kind} webhooks")
        end = max(ledger.answered[i][0] for i in ids)
        await self.until(all_reported_and_idle, f"{mode}: reports and idle agents")
        if measured:
            figures = self.figures[mode]
            figures.latencies += [ledger.hooks[kind, i][0][0] - ledger.answered[i][0] for i in ids]
            figures.offers += count
            figures.seconds += end - start
            figures.call_ids += ids
            figures.cycles += ledger.cycles(ids)

    async def dial_docs(self, call_ids: Sequence[str]) -> dict[str, DialDoc | None]:
        docs: dict[str, DialDoc | None] = {}
        for call_id in call_ids:
            answer = await self._api.send("GET", f"/v1/calls/{call_id}", self._api.admin)
            callback = msgspec.json.decode(answer, type=CallDoc).callback
            docs[call_id] = callback.dial if callback else None
        return docs


# --- set-up: the app, the gateway, the desks --------------------------------------------


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """`app` on a free loopback port; its URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def start(
    stack: AsyncExitStack, scratch: Path, ledger: Ledger, args: argparse.Namespace
) -> Bench:
    """Redis, the gateway, the app, the agents and their desks; stopped when `stack` closes."""
    reports: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    gateway_app = web.Application()
    gateway_app.router.add_post("/hooks", Gateway(ledger, reports).webhook)
    gateway_url = await stack.enter_async_context(serving(gateway_app))
    redis_url = await stack.enter_async_context(embedded_redis(scratch / "redis", persist=False))
    settings = Settings(
        redis_url=redis_url,
        data_dir=scratch / "data",
        rules_dir=scratch / "rules",
        gateway_webhook_url=gateway_url + "/hooks",
        webhook_secret=Secret("bench-callbacks-secret"),
        log_level="WARNING",
    )
    app = create_app(settings)
    url = await stack.enter_async_context(serving(app))
    session = await stack.enter_async_context(
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.agents + 64))
    )
    auth = app[SERVICES].auth
    admin, _ = await auth.create_token("admin", "bench")
    gateway, _ = await auth.create_token("gateway", "bench")
    api = Api(session, url, ledger, admin=admin, gateway=gateway)
    names = [f"bench{i:03d}" for i in range(args.agents)]
    tasks: list[asyncio.Task[None]] = []
    stack.push_async_callback(stop_tasks, tasks)
    for name in names:
        await api.send("PUT", f"/v1/agents/{name}", api.admin, {"name": name, "skills": {}})
        token, _ = await auth.create_token(f"agent:{name}", "bench")
        tasks.append(asyncio.create_task(desk(api, ledger, name, token), name=f"desk-{name}"))
    agent_ends = args.wrap_up == "agent"
    tasks += [
        asyncio.create_task(
            report(api, ledger, reports, agent_ends=agent_ends), name=f"reporter-{i}"
        )
        for i in range(REPORTERS)
    ]
    if ledger.failures:
        raise BenchError("; ".join(ledger.failures[:3]))
    return Bench(api, ledger, names, tasks)


async def stop_tasks(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
