"""Several `callcenter serve` processes sharing one Redis, driven as a contact center would be.

Agent bots poll their agent through any instance, answer offers through any instance and end
calls through any instance, while a monitor reads Redis in atomic snapshots (MULTI/EXEC) and
checks the routing invariants of DESIGN.md ("Atomicity"): an agent holds at most one call, a
call is offered to at most one agent, and agents and calls always agree about each other.
The second test SIGKILLs an instance while it holds leased reservation timers; the third
SIGKILLs one right after it acknowledged a new call, before it could offer it."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Coroutine, Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import aiohttp
import msgspec
import pytest
import redis.asyncio as aioredis

from callcenter.domain.agents import Activity, Agent
from callcenter.domain.calls import Call, CallState, Outcome
from callcenter.domain.timers import Timer, TimerKind
from callcenter.storage import keys
from callcenter.storage.timers import LEASE_SECONDS, member_of
from tests.integration.serve_processes import admin_token, serve_environment, start_servers

RULES = Path(__file__).parent.parent / "fixtures" / "rules" / "multi"
QUEUE = "support"
INSTANCES = 3
RESERVATION_SECONDS = 2.0  # as in the rules file
POLL_SECONDS = 0.05
SAMPLE_SECONDS = 0.2
REJECT_RATE = 0.1
# Without a crash nothing may stay reserved, on a call or in wrap-up much past the
# reservation time: bots answer within a poll and talk for at most a quarter second.
STUCK_WITHOUT_CRASH = RESERVATION_SECONDS + 5
# A timer that the killed instance had taken (leased) right before it died fires again on a
# survivor only once the lease (callcenter/storage/timers.py LEASE_SECONDS, 30 s) runs out,
# so a reservation it held may pend for reservation_seconds + the lease: allow that + slack.
STUCK_AFTER_CRASH = RESERVATION_SECONDS + LEASE_SECONDS + 8

BUSY_CALL_STATES = {
    CallState.OFFERED: Activity.RESERVED,
    CallState.CONNECTED: Activity.ON_CALL,
    CallState.WRAP_UP: Activity.WRAP_UP,
}


# ---------------------------------------------------------------------------- processes


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    dead: bool = False
    paused: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Cluster:
    servers: list[Server]
    token: str  # an admin token

    def usable(self) -> list[Server]:
        return [s for s in self.servers if not s.dead and not s.paused]

    def logs(self) -> str:
        parts = []
        for server in self.servers:
            text = server.log.read_text(errors="replace")
            parts.append(f"--- {server.name} (exit {server.process.poll()}) ---\n{text[-4000:]}")
        return "\n".join(parts)


@pytest.fixture
def cluster(redis_client: aioredis.Redis, redis_url: str, tmp_path: Path) -> Iterator[Cluster]:
    """INSTANCES `callcenter serve` processes on the session's Redis (flushed first)."""
    with ExitStack() as stack:
        started = start_servers(
            stack,
            INSTANCES,
            redis_url=redis_url,
            rules_dir=RULES,
            folder=tmp_path,
            environ=serve_environment(),
        )
        servers = [Server(s.name, s.port, s.process, s.log) for s in started]
        yield Cluster(servers, admin_token(redis_url))


# ---------------------------------------------------------------------------- HTTP


class Api:
    """The HTTP API of the cluster: each request goes to a random usable instance unless
    one is named; connection failures (a killed instance) are retried elsewhere."""

    def __init__(
        self, session: aiohttp.ClientSession, cluster: Cluster, token: str, rng: random.Random
    ) -> None:
        self._session = session
        self._cluster = cluster
        self._headers = {"Authorization": f"Bearer {token}"}
        self._rng = rng
        self.server_errors: list[str] = []

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        server: Server | None = None,
        retry: bool = True,
    ) -> tuple[int, Any]:
        for attempt in range(10):
            target = server or await self._pick()
            try:
                async with self._session.request(
                    method, target.url + path, json=body, headers=self._headers
                ) as response:
                    payload = await response.json(content_type=None)
                    if response.status >= 500:
                        self.server_errors.append(
                            f"{method} {path} on {target.name}: {response.status} {payload}"
                        )
                    return response.status, payload
            except (aiohttp.ClientConnectionError, TimeoutError):
                if not retry or attempt == 9:
                    raise
                await asyncio.sleep(0.05)
        raise AssertionError("unreachable")

    async def _pick(self) -> Server:
        """A random usable instance; waits while all are paused (the crash test)."""
        while True:
            usable = self._cluster.usable()
            if usable:
                return self._rng.choice(usable)
            await asyncio.sleep(0.01)

    async def metrics(self, server: Server) -> str:
        async with self._session.get(server.url + "/metrics") as response:
            assert response.status == 200
            return await response.text()

    async def event(
        self, kind: str, call_id: str, *, via: Server | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Deliver one event (retried with its event id: delivery is idempotent)."""
        body = {"type": kind, "event_id": f"{call_id}:{kind}", "call_id": call_id, **fields}
        status, result = await self.request("POST", "/v1/events", body, server=via)
        assert status == 200, f"{kind} {call_id}: {status} {result}"
        assert isinstance(result, dict)
        return result


def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=30),
        connector=aiohttp.TCPConnector(limit=200),
    )


async def _register_agents(api: Api, cluster: Cluster, count: int) -> list[str]:
    """Agents a00..: skills {support: 3}, available; requests spread over the instances."""
    ids = [f"a{i:02d}" for i in range(count)]

    async def one(index: int, agent_id: str) -> None:
        via = cluster.servers[index % len(cluster.servers)]
        status, _ = await api.request(
            "PUT", f"/v1/agents/{agent_id}", {"name": agent_id, "skills": {QUEUE: 3}}, server=via
        )
        assert status == 201
        via = cluster.servers[(index + 1) % len(cluster.servers)]
        status, agent = await api.request(
            "POST", f"/v1/agents/{agent_id}/presence", {"presence": "available"}, server=via
        )
        assert status == 200 and agent["presence"] == "available", agent

    await asyncio.gather(*(one(i, a) for i, a in enumerate(ids)))
    return ids


async def _create_calls(
    api: Api, call_ids: list[str], *, via: list[Server] | None = None, concurrency: int = 32
) -> None:
    """call.created for each id, at most `concurrency` at a time, each through a random
    instance of `via` (default: any usable one)."""
    gate = asyncio.Semaphore(concurrency)
    rng = random.Random(len(call_ids))

    async def one(index: int, call_id: str) -> None:
        async with gate:
            server = rng.choice(via) if via else None
            result = await api.event(
                "call.created",
                call_id,
                queue=QUEUE,
                to="+15559870000",
                via=server,
                **{"from": f"+1555{index:07d}"},
            )
            assert result["result"] == "applied", result

    await asyncio.gather(*(one(i, c) for i, c in enumerate(call_ids)))


def _metric_sum(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith((name + "{", name + " ")):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


async def _metrics_sum(api: Api, servers: list[Server], name: str, **labels: str) -> float:
    texts = await asyncio.gather(*(api.metrics(s) for s in servers))
    return sum(_metric_sum(text, name, **labels) for text in texts)


# ---------------------------------------------------------------------------- agent bots


@dataclass
class Ledger:
    """What the bots did, as the API answered them."""

    accepts: Counter[str] = field(default_factory=Counter)  # call id -> 200s on accept
    accepted_reservations: set[str] = field(default_factory=set)
    rejects: int = 0
    late_answers: int = 0  # 409: the offer was gone when answered
    problems: list[str] = field(default_factory=list)


class Swarm:
    """One bot per agent: poll the agent, answer its offer, talk briefly, end the call."""

    def __init__(
        self, api: Api, agent_ids: list[str], *, seed: int, reject_rate: float = REJECT_RATE
    ) -> None:
        self._api = api
        self._agent_ids = agent_ids
        self._rng = random.Random(seed)
        self._reject_rate = reject_rate
        self.ledger = Ledger()
        self.holding = False  # True: bots see offers but answer none
        self.skip: set[str] = set()  # reservations never to answer (left to the timers)

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self._bot(agent_id, stop) for agent_id in self._agent_ids))

    async def _bot(self, agent_id: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self._step(agent_id)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL_SECONDS)

    async def _offer_of(self, agent_id: str) -> tuple[str, str] | None:
        """(call id, reservation id) of the offer pending for the agent, if any."""
        status, agent = await self._api.request("GET", f"/v1/agents/{agent_id}")
        if status != 200:
            self.ledger.problems.append(f"GET agent {agent_id}: {status} {agent}")
            return None
        call_id = agent.get("call_id")
        if agent["activity"] != Activity.RESERVED or not call_id:
            return None
        status, call = await self._api.request("GET", f"/v1/calls/{call_id}")
        if status != 200:
            self.ledger.problems.append(f"GET call {call_id}: {status} {call}")
            return None
        reservation = call.get("reservation")
        if call["state"] != CallState.OFFERED or not reservation:
            return None  # answered or expired meanwhile
        if reservation["agent_id"] != agent_id:
            return None  # re-offered to someone else since the agent was read
        return call_id, str(reservation["id"])

    async def _step(self, agent_id: str) -> None:
        offer = await self._offer_of(agent_id)
        if offer is None or self.holding or offer[1] in self.skip:
            return
        call_id, reservation_id = offer
        verb = "reject" if self._rng.random() < self._reject_rate else "accept"
        # Not retried: a lost answer to a killed instance could have committed.
        status, body = await self._api.request(
            "POST", f"/v1/reservations/{reservation_id}/{verb}", retry=False
        )
        if status == 409:
            self.ledger.late_answers += 1
            return
        if status != 200:
            self.ledger.problems.append(f"{verb} {reservation_id}: {status} {body}")
            return
        if verb == "reject":
            self.ledger.rejects += 1
            return
        self.ledger.accepts[call_id] += 1
        self.ledger.accepted_reservations.add(reservation_id)
        if body["state"] != CallState.CONNECTED or body["agent_id"] != agent_id:
            self.ledger.problems.append(f"accept {reservation_id} answered {body}")
        await asyncio.sleep(self._rng.uniform(0.05, 0.25))  # talk
        ended = await self._api.event("call.ended", call_id, end_reason="normal")
        if ended["result"] != "applied" or ended["state"] != CallState.WRAP_UP:
            self.ledger.problems.append(f"call.ended {call_id}: {ended}")


# ---------------------------------------------------------------------------- monitor


@dataclass
class Snapshot:
    at: datetime
    agents: dict[str, Agent]
    calls: dict[str, Call]

    def states(self) -> Counter[CallState]:
        return Counter(call.state for call in self.calls.values())


async def take_snapshot(
    client: aioredis.Redis, agent_ids: list[str], call_ids: list[str]
) -> Snapshot:
    """Every agent and call document, read in one MULTI/EXEC: a consistent cut of Redis."""
    call_ids = list(call_ids)
    async with client.pipeline(transaction=True) as pipe:
        for agent_id in agent_ids:
            pipe.hget(keys.agent(agent_id), "d")
        for call_id in call_ids:
            pipe.hget(keys.call(call_id), "d")
        raws: list[bytes | None] = await pipe.execute()
    now = datetime.now(UTC)
    agents = {
        a: msgspec.json.decode(raw, type=Agent)
        for a, raw in zip(agent_ids, raws[: len(agent_ids)], strict=True)
        if raw is not None
    }
    calls = {
        c: msgspec.json.decode(raw, type=Call)
        for c, raw in zip(call_ids, raws[len(agent_ids) :], strict=True)
        if raw is not None
    }
    return Snapshot(now, agents, calls)


def _agent_problems(snapshot: Snapshot) -> list[str]:
    problems = []
    holders: dict[str, list[str]] = {}
    for agent in snapshot.agents.values():
        if (agent.activity is Activity.IDLE) != (agent.call_id is None):
            problems.append(f"agent {agent.id} is {agent.activity} holding {agent.call_id}")
        if agent.call_id is not None:
            holders.setdefault(agent.call_id, []).append(agent.id)
    problems.extend(
        f"call {call_id} held by agents {ids}" for call_id, ids in holders.items() if len(ids) > 1
    )
    return problems


def _pair_problem(call: Call, snapshot: Snapshot) -> str | None:
    """A busy call must name an agent that holds it, in the matching activity."""
    agent = snapshot.agents.get(call.agent_id or "")
    expected = BUSY_CALL_STATES[call.state]
    if agent is None or agent.call_id != call.id or agent.activity is not expected:
        shown = f"{agent.activity} holding {agent.call_id}" if agent else "missing"
        return f"call {call.id} is {call.state} for agent {call.agent_id}, who is {shown}"
    reservation = call.reservation
    if (call.state is CallState.OFFERED) != (reservation is not None):
        return f"call {call.id} is {call.state} with reservation {reservation}"
    if reservation is not None and reservation.agent_id != call.agent_id:
        return f"call {call.id} reserved for {reservation.agent_id} but given to {call.agent_id}"
    return None


def _call_problems(snapshot: Snapshot) -> list[str]:
    problems = []
    claims: dict[str, list[str]] = {}
    for call in snapshot.calls.values():
        if call.state not in BUSY_CALL_STATES:
            if call.reservation is not None:
                problems.append(f"call {call.id} is {call.state} with a reservation")
            continue
        claims.setdefault(call.agent_id or "", []).append(call.id)
        problem = _pair_problem(call, snapshot)
        if problem:
            problems.append(problem)
    problems.extend(
        f"agent {agent_id} holds calls {ids}" for agent_id, ids in claims.items() if len(ids) > 1
    )
    busy_agents = sum(a.activity is not Activity.IDLE for a in snapshot.agents.values())
    busy_calls = sum(len(ids) for ids in claims.values())
    if busy_agents != busy_calls:
        problems.append(f"{busy_agents} busy agents but {busy_calls} calls holding agents")
    return problems


def _stuck_problems(snapshot: Snapshot, limit: float) -> list[str]:
    problems = []
    for agent in snapshot.agents.values():
        held = (snapshot.at - agent.activity_since).total_seconds()
        if agent.activity is not Activity.IDLE and held > limit:
            problems.append(f"agent {agent.id} {agent.activity} for {held:.1f}s")
    for call in snapshot.calls.values():
        if call.reservation is not None:
            pending = (snapshot.at - call.reservation.offered_at).total_seconds()
            if pending > limit:
                problems.append(f"call {call.id} offered for {pending:.1f}s")
    return problems


class Monitor:
    """Samples Redis every SAMPLE_SECONDS and records every broken invariant."""

    def __init__(
        self, client: aioredis.Redis, agent_ids: list[str], call_ids: list[str], stuck: float
    ) -> None:
        self._client = client
        self._agent_ids = agent_ids
        self._call_ids = call_ids  # shared: the test appends calls as it creates them
        self._stuck = stuck
        self.samples = 0
        self.violations: list[str] = []
        self.longest_offer = 0.0
        self.watched: dict[str, str] = {}  # reservation id -> call id, until it resolves
        self.resolved_at: dict[str, datetime] = {}

    async def sample(self) -> Snapshot:
        snapshot = await take_snapshot(self._client, self._agent_ids, self._call_ids)
        self.samples += 1
        found = (
            _agent_problems(snapshot)
            + _call_problems(snapshot)
            + _stuck_problems(snapshot, self._stuck)
        )
        self.violations.extend(f"{snapshot.at.isoformat()} {p}" for p in found)
        for call in snapshot.calls.values():
            if call.reservation is not None:
                pending = (snapshot.at - call.reservation.offered_at).total_seconds()
                self.longest_offer = max(self.longest_offer, pending)
        for reservation_id, call_id in self.watched.items():
            call = snapshot.calls[call_id]
            gone = call.reservation is None or call.reservation.id != reservation_id
            if gone and reservation_id not in self.resolved_at:
                self.resolved_at[reservation_id] = snapshot.at
        return snapshot

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.sample()
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SAMPLE_SECONDS)

    async def wait_until_all_ended(self, count: int, within: float) -> Snapshot:
        deadline = time.monotonic() + within
        while True:
            snapshot = await self.sample()
            if snapshot.states()[CallState.ENDED] >= count or time.monotonic() > deadline:
                return snapshot
            await asyncio.sleep(SAMPLE_SECONDS)


# ---------------------------------------------------------------------------- checks


def _check_final(
    snapshot: Snapshot, call_ids: list[str], swarm: Swarm, monitor: Monitor, api: Api
) -> None:
    assert monitor.samples >= 10, "the monitor hardly sampled"
    assert not api.server_errors, api.server_errors[:20]
    assert not swarm.ledger.problems, swarm.ledger.problems[:20]
    assert not monitor.violations, (
        f"{len(monitor.violations)} invariant violations, first: {monitor.violations[:20]}"
    )
    unfinished = {
        c: ((snapshot.calls[c].state, snapshot.calls[c].outcome) if c in snapshot.calls else None)
        for c in call_ids
        if c not in snapshot.calls
        or snapshot.calls[c].state is not CallState.ENDED
        or snapshot.calls[c].outcome is not Outcome.HANDLED
    }
    assert not unfinished, (
        f"{len(unfinished)} of {len(call_ids)} calls not ended handled "
        f"(states {snapshot.states()}): {dict(list(unfinished.items())[:20])}"
    )
    connects = {c: swarm.ledger.accepts[c] for c in call_ids if swarm.ledger.accepts[c] != 1}
    assert not connects, f"calls not connected exactly once (accept 200s): {connects}"
    busy = {a.id: (a.activity, a.call_id) for a in snapshot.agents.values()}
    busy = {k: v for k, v in busy.items() if v != (Activity.IDLE, None)}
    assert not busy, f"agents left busy: {busy}"


async def _run_with(monitor: Monitor, swarm: Swarm, scenario: Coroutine[Any, Any, None]) -> None:
    """Run `scenario` while the monitor and the bots run; stop them after. A monitor or bot
    that fails stops the scenario at once."""
    stop = asyncio.Event()
    main = asyncio.create_task(scenario, name="scenario")
    background = [
        asyncio.create_task(monitor.run(stop), name="monitor"),
        asyncio.create_task(swarm.run(stop), name="bots"),
    ]
    try:
        await asyncio.wait([main, *background], return_when=asyncio.FIRST_COMPLETED)
    finally:
        main.cancel()  # still running only if a background task failed first
        stop.set()
        await asyncio.gather(main, *background, return_exceptions=True)
    for task in (*background, main):
        if not task.cancelled() and task.exception() is not None:
            raise cast(BaseException, task.exception())


# ---------------------------------------------------------------------------- tests


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_many_instances_never_double_book(
    cluster: Cluster, redis_client: aioredis.Redis
) -> None:
    agents_count, calls_count = 50, 500
    rng = random.Random(7)
    async with _session() as session:
        api = Api(session, cluster, cluster.token, rng)
        agent_ids = await _register_agents(api, cluster, agents_count)
        call_ids = [f"mi-{i:04d}" for i in range(calls_count)]
        monitor = Monitor(redis_client, agent_ids, call_ids, STUCK_WITHOUT_CRASH)
        swarm = Swarm(api, agent_ids, seed=11)

        async def scenario() -> None:
            await _create_calls(api, call_ids)
            await monitor.wait_until_all_ended(calls_count, within=100)

        await _run_with(monitor, swarm, scenario())
        snapshot = await monitor.sample()
        _check_final(snapshot, call_ids, swarm, monitor, api)
        offered = await _metrics_sum(
            api, cluster.servers, "callcenter_routing_decisions_total", result="offered"
        )
        assert offered >= calls_count + swarm.ledger.rejects
        errors = await _metrics_sum(api, cluster.servers, "callcenter_task_errors_total")
        assert errors == 0, cluster.logs()
    assert all(s.process.poll() is None for s in cluster.servers), cluster.logs()
    assert swarm.ledger.rejects > 0  # re-queueing was exercised


def _stop_process(server: Server) -> None:
    server.paused = True
    os.kill(server.process.pid, signal.SIGSTOP)


def _continue_process(server: Server) -> None:
    os.kill(server.process.pid, signal.SIGCONT)
    server.paused = False


async def _wait_for_lease(client: aioredis.Redis, within: float) -> int:
    """Wait until some offer timer is leased (pushed LEASE_SECONDS ahead); return how many.

    Polls without pausing: the victim handles a leased timer within milliseconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        leased = cast(
            list[bytes],
            await client.zrangebyscore(keys.TIMERS, time.time() + LEASE_SECONDS / 2, "+inf"),
        )
        offers = [m for m in leased if m.startswith(b'["offer"')]
        if offers:
            return len(offers)
    return 0


async def _held_reservations(
    client: aioredis.Redis, snapshot: Snapshot
) -> dict[str, tuple[str, datetime, bool]]:
    """Reservations pending in `snapshot`: id -> (call id, expires_at, leased timer)."""
    held: dict[str, tuple[str, datetime, bool]] = {}
    for call in snapshot.calls.values():
        reservation = call.reservation
        if reservation is None:
            continue
        timer = Timer(TimerKind.OFFER, call.id, reservation.id, reservation.expires_at)
        score = await client.zscore(keys.TIMERS, member_of(timer))
        assert score is not None, f"no expiry timer for reservation {reservation.id}"
        leased = score > reservation.expires_at.timestamp() + LEASE_SECONDS / 2
        held[reservation.id] = (call.id, reservation.expires_at, leased)
    return held


async def _kill_holding_timers(
    cluster: Cluster, victim: Server, client: aioredis.Redis, monitor: Monitor
) -> dict[str, tuple[str, datetime, bool]]:
    """Pause the survivors just before the first offers expire so that the victim's timer
    loop takes (leases) the expiry timers, SIGKILL the victim at once, and return the
    reservations it left pending."""
    snapshot = await monitor.sample()
    first = min(c.reservation.expires_at for c in snapshot.calls.values() if c.reservation)
    await asyncio.sleep(max(0.0, (first - datetime.now(UTC)).total_seconds() - 0.5))
    survivors = [s for s in cluster.servers if s is not victim]
    for server in survivors:
        _stop_process(server)
    try:
        leased = await _wait_for_lease(client, within=5)
        victim.dead = True
        victim.process.kill()
        await asyncio.to_thread(victim.process.wait, 10)
        held = await _held_reservations(client, await monitor.sample())
    finally:
        for server in survivors:
            _continue_process(server)
    assert leased > 0, "the victim never took an offer timer"
    return held


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_killed_instance_loses_nothing(
    cluster: Cluster, redis_client: aioredis.Redis
) -> None:
    agents_count, first_wave, second_wave = 20, 30, 30
    rng = random.Random(5)
    victim = cluster.servers[0]
    async with _session() as session:
        api = Api(session, cluster, cluster.token, rng)
        agent_ids = await _register_agents(api, cluster, agents_count)
        call_ids = [f"kill-{i:03d}" for i in range(first_wave)]
        monitor = Monitor(redis_client, agent_ids, call_ids, STUCK_AFTER_CRASH)
        swarm = Swarm(api, agent_ids, seed=3)
        swarm.holding = True
        held: dict[str, tuple[str, datetime, bool]] = {}

        async def scenario() -> None:
            # Offers made by the victim (its dispatcher handles the calls it receives).
            await _create_calls(api, call_ids, via=[victim])
            deadline = time.monotonic() + 15
            while (await monitor.sample()).states()[CallState.OFFERED] < agents_count:
                assert time.monotonic() < deadline, "the victim did not offer the calls"
                await asyncio.sleep(0.05)
            held.update(await _kill_holding_timers(cluster, victim, redis_client, monitor))
            monitor.watched = {r: call_id for r, (call_id, _, _) in held.items()}
            swarm.skip = set(held)  # only the survivors' timers may resolve these
            swarm.holding = False
            more = [f"kill-{i:03d}" for i in range(first_wave, first_wave + second_wave)]
            call_ids.extend(more)
            await _create_calls(api, more)
            await monitor.wait_until_all_ended(len(call_ids), within=STUCK_AFTER_CRASH + 40)

        await _run_with(monitor, swarm, scenario())
        snapshot = await monitor.sample()
        survivors = [s for s in cluster.servers if s is not victim]
        _check_final(snapshot, call_ids, swarm, monitor, api)
        _check_held(held, monitor, swarm)
        timeouts = await _metrics_sum(
            api, survivors, "callcenter_reservations_total", result="timeout"
        )
        assert timeouts >= len(held), "the survivors did not expire the victim's offers"
        errors = await _metrics_sum(api, survivors, "callcenter_task_errors_total")
        assert errors == 0, cluster.logs()
    assert victim.process.returncode == -signal.SIGKILL
    assert all(s.process.poll() is None for s in survivors), cluster.logs()


def _check_held(
    held: dict[str, tuple[str, datetime, bool]], monitor: Monitor, swarm: Swarm
) -> None:
    """Each reservation the victim left pending was expired by a survivor's timer loop:
    soon after expires_at, or after the lease if the victim had taken its timer."""
    assert held, "the victim left no reservation pending: the crash scenario did not happen"
    late: dict[str, float] = {}
    for reservation_id, (_call_id, expires_at, leased) in held.items():
        assert reservation_id not in swarm.ledger.accepted_reservations
        resolved = monitor.resolved_at.get(reservation_id)
        assert resolved is not None, f"reservation {reservation_id} never resolved"
        allowed = LEASE_SECONDS + 8 if leased else 5
        after = (resolved - expires_at).total_seconds()
        if after > allowed:
            late[reservation_id] = after
    assert not late, f"reservations resolved too late after expiry (seconds): {late}"


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_call_acknowledged_by_a_dying_instance_is_still_offered(
    cluster: Cluster, redis_client: aioredis.Redis
) -> None:
    """An instance answers 200 to call.created and is SIGKILLed at once, before (usually) its
    dispatcher offers the call. The call is stored queued and agents are idle and available:
    the survivors must offer it, with no further event to prompt them (a quiet night: the
    gateway got its 200 and sends nothing more). The killed instance's dispatch pass takes a
    few milliseconds, so most runs kill it inside that window; when it wins the race the call
    is offered at once and this test checks nothing more than the others."""
    rng = random.Random(1)
    victim = cluster.servers[0]
    async with _session() as session:
        api = Api(session, cluster, cluster.token, rng)
        agent_ids = await _register_agents(api, cluster, 20)
        body = {
            "type": "call.created",
            "event_id": "probe:call.created",
            "call_id": "probe",
            "queue": QUEUE,
            "from": "+15550000001",
        }
        headers = {"Authorization": f"Bearer {cluster.token}"}
        async with session.post(victim.url + "/v1/events", json=body, headers=headers) as answer:
            victim.dead = True
            victim.process.kill()  # as soon as the status line is in
            assert answer.status == 200
    await asyncio.to_thread(victim.process.wait, 10)
    # Anything a killed instance leaves behind may wait at most about a timer lease.
    deadline = time.monotonic() + LEASE_SECONDS + 8
    at_kill = (await take_snapshot(redis_client, agent_ids, ["probe"])).calls["probe"].state
    while True:
        snapshot = await take_snapshot(redis_client, agent_ids, ["probe"])
        call = snapshot.calls["probe"]
        if call.state is not CallState.QUEUED or time.monotonic() > deadline:
            break
        await asyncio.sleep(SAMPLE_SECONDS)
    ready = [a.id for a in snapshot.agents.values() if a.eligible]
    assert call.state is CallState.OFFERED, (
        f"call still {call.state} ({at_kill} when its instance died) after "
        f"{LEASE_SECONDS + 8}s with {len(ready)} agents available and idle"
    )
    assert call.agent_id in agent_ids
