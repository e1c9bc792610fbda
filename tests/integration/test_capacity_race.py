"""Three `callcenter serve` processes on one Redis route chats and emails to agents with
small capacities while agent bots accept, reply and resolve through any instance. A
monitor reads every agent and task in one atomic snapshot (MULTI/EXEC) and checks that no
agent ever holds more tasks of a channel than its capacity, that no task is held by two
agents, and that tasks and agents agree; at the end every task was handled exactly once."""

from __future__ import annotations

import asyncio
import random
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, cast

import aiohttp
import msgspec
import pytest
import redis.asyncio as aioredis

from callcenter.domain.agents import Agent
from callcenter.domain.calls import Call, CallState
from callcenter.storage import keys
from tests.integration.serve_processes import (
    CLI,
    Served,
    admin_token,
    serve_environment,
    start_servers,
)

pytestmark = pytest.mark.slow

RULES = Path(__file__).parent.parent / "fixtures" / "rules" / "multi"
CAPACITY = {"voice": 1, "chat": 2, "email": 1}
AGENTS = ("ann", "bob", "cyd")
TASKS = 36
DEADLINE_SECONDS = 90
Json = dict[str, Any]


@pytest.fixture
def servers(redis_client: aioredis.Redis, redis_url: str, tmp_path: Path) -> Iterator[list[Served]]:
    with ExitStack() as stack:
        yield start_servers(
            stack,
            3,
            redis_url=redis_url,
            rules_dir=RULES,
            folder=tmp_path,
            environ=serve_environment(),
        )


class Violations:
    def __init__(self) -> None:
        self.found: list[str] = []
        self.snapshots = 0


async def snapshot(redis: aioredis.Redis) -> tuple[list[Agent], list[Call]]:
    """Every agent and every task, read at one instant."""
    task_ids: list[str] = []
    for state in ("offered", "connected"):
        members = cast(list[bytes], await redis.zrange(keys.calls_in_state(state), 0, -1))
        task_ids += [member.decode() for member in members]
    async with redis.pipeline(transaction=True) as pipe:
        for agent_id in AGENTS:
            pipe.hget(keys.agent(agent_id), "d")
        for task_id in task_ids:
            pipe.hget(keys.call(task_id), "d")
        raw = await pipe.execute()
    agents = [msgspec.json.decode(r, type=Agent) for r in raw[: len(AGENTS)] if r]
    calls = [msgspec.json.decode(r, type=Call) for r in raw[len(AGENTS) :] if r]
    return agents, calls


def check(agents: list[Agent], calls: list[Call], violations: Violations) -> None:
    holders: Counter[str] = Counter()
    for agent in agents:
        for channel, count in Counter(agent.tasks.values()).items():
            if count > CAPACITY[channel]:
                violations.found.append(f"{agent.id} holds {count} {channel} tasks")
        holders.update(agent.tasks.keys())
    violations.found.extend(f"{t} held by {n} agents" for t, n in holders.items() if n > 1)
    by_id = {a.id: a for a in agents}
    for call in calls:
        if call.state not in (CallState.OFFERED, CallState.CONNECTED):
            continue
        holder = call.agent_id or (call.reservation.agent_id if call.reservation else None)
        held_by = by_id.get(holder or "")
        if held_by is None or call.id not in held_by.tasks:
            violations.found.append(f"{call.id} is {call.state} to {holder}, who does not hold it")


async def monitor(redis: aioredis.Redis, violations: Violations, stop: asyncio.Event) -> None:
    while not stop.is_set():
        agents, calls = await snapshot(redis)
        check(agents, calls, violations)
        violations.snapshots += 1
        await asyncio.sleep(0.02)


async def bot(
    session: aiohttp.ClientSession,
    servers: list[Served],
    agent_id: str,
    token: str,
    jobs: set[asyncio.Task[None]],
) -> None:
    """Accept every offer, reply once, resolve soon after; each step through any instance."""
    headers = {"Authorization": f"Bearer {token}"}
    working: set[str] = set()
    while True:
        base = random.choice(servers).url
        async with session.get(f"{base}/v1/agents/{agent_id}", headers=headers) as answer:
            held = (await answer.json())["tasks"]
        for task_id in held:
            if task_id in working:
                continue
            url = f"{random.choice(servers).url}/v1/tasks/{task_id}"
            async with session.get(url, headers=headers) as answer:
                task = (await answer.json())["task"]
            if task["state"] != "offered":
                continue
            reservation = task["reservation"]["id"]
            url = f"{random.choice(servers).url}/v1/reservations/{reservation}/accept"
            async with session.post(url, headers=headers) as answer:
                if answer.status != 200:
                    continue
            working.add(task_id)
            work = _work(session, servers, task_id, headers, reply=task["channel"] == "chat")
            jobs.add(asyncio.get_running_loop().create_task(work))
        await asyncio.sleep(0.05)


async def _work(
    session: aiohttp.ClientSession,
    servers: list[Served],
    task_id: str,
    headers: dict[str, str],
    *,
    reply: bool,
) -> None:
    """Reply (chats: an email reply would need an SMTP relay here), then resolve."""
    await asyncio.sleep(random.uniform(0.05, 0.4))
    if reply:
        url = f"{random.choice(servers).url}/v1/tasks/{task_id}/messages"
        async with session.post(url, json={"body": "on it"}, headers=headers) as answer:
            assert answer.status == 201, await answer.text()
    await asyncio.sleep(random.uniform(0.05, 0.3))
    url = f"{random.choice(servers).url}/v1/tasks/{task_id}/resolve"
    async with session.post(url, json={"disposition": "done"}, headers=headers) as answer:
        assert answer.status == 200, await answer.text()


async def test_no_agent_exceeds_its_capacity_with_three_instances_racing(
    servers: list[Served], redis_client: aioredis.Redis, redis_url: str
) -> None:
    admin = {"Authorization": f"Bearer {admin_token(redis_url)}"}
    async with aiohttp.ClientSession() as session:
        for agent_id in AGENTS:
            body = {"name": agent_id, "skills": {"support": 3}, "capacity": CAPACITY}
            url = f"{servers[0].url}/v1/agents/{agent_id}"
            async with session.put(url, json=body, headers=admin) as answer:
                assert answer.status == 201, await answer.text()
            async with session.post(
                f"{url}/presence", json={"presence": "available"}, headers=admin
            ) as answer:
                assert answer.status == 200
        tokens = {a: agent_token(redis_url, a) for a in AGENTS}
        violations, stop = Violations(), asyncio.Event()
        watching = asyncio.create_task(monitor(redis_client, violations, stop))
        jobs: set[asyncio.Task[None]] = set()
        bots = [asyncio.create_task(bot(session, servers, a, tokens[a], jobs)) for a in AGENTS]
        try:
            created = await asyncio.gather(
                *(_open(session, servers[n % 3], admin, n) for n in range(TASKS))
            )
            ended = await _all_ended(session, servers[0], admin, created)
        finally:
            stop.set()
            for running in bots:
                running.cancel()
            await asyncio.gather(*bots, return_exceptions=True)
            await watching
        await asyncio.gather(*jobs)  # every reply and resolve went through
    assert violations.snapshots > 10
    assert violations.found == []
    assert Counter(task["outcome"] for task in ended) == {"handled": TASKS}
    agents, _ = await snapshot(redis_client)
    assert all(agent.tasks == {} for agent in agents)


def agent_token(redis_url: str, agent_id: str) -> str:
    made = subprocess.run(
        [*CLI, "tokens", "--redis-url", redis_url, "create", "--role", f"agent:{agent_id}"],
        env=serve_environment(),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return made.stdout.strip()


async def _open(
    session: aiohttp.ClientSession, server: Served, admin: dict[str, str], n: int
) -> str:
    channel = "email" if n % 3 == 0 else "chat"
    body = {"channel": channel, "from": f"+1555000{n:04d}", "queue": "support", "body": f"help {n}"}
    async with session.post(f"{server.url}/v1/tasks", json=body, headers=admin) as answer:
        assert answer.status == 201, await answer.text()
        return str((await answer.json())["task_id"])


async def _all_ended(
    session: aiohttp.ClientSession, server: Served, admin: dict[str, str], ids: list[str]
) -> list[Json]:
    deadline = asyncio.get_running_loop().time() + DEADLINE_SECONDS
    while True:
        found = []
        for task_id in ids:
            async with session.get(f"{server.url}/v1/tasks/{task_id}", headers=admin) as answer:
                found.append((await answer.json())["task"])
        if all(task["state"] == "ended" for task in found):
            return found
        if asyncio.get_running_loop().time() > deadline:
            states = Counter(task["state"] for task in found)
            raise AssertionError(f"tasks not all ended: {states}")
        await asyncio.sleep(0.2)
