"""Chat benchmark: many concurrent chats, each customer writing every few seconds and its
agent answering, measured against a baseline path through the same server in the same run.

A server process runs the app on its own embedded redis-server (uvloop) with agents whose
chat capacity covers every chat. This process plays everyone else: one `/ws/agent` desk per
agent (accepts each chat offer, answers each customer message), the customers (each posts a
message through the API every `--every` seconds, jittered), and the customers' side of the
answers: each customer's own chat socket (`/ws/chat`, resumed with the session token the
chat's `POST /v1/tasks` answered).

Measured, per message, from the sender's clock (one machine):
- customer -> agent page: `POST /v1/tasks/{id}/messages` (gateway token) sent, to the
  `task.message` frame on the agent's desk;
- agent -> customer: the agent's reply posted, to its message frame on the customer's chat
  socket;
- baseline: an agent's presence change posted (`POST /v1/agents/{id}/presence`), to its
  `agent.updated` on a wallboard socket: an API write, a commit, the bus and a page, without
  the conversation (interleaved with the chat traffic, at a tenth of its rate).
Figures: p50 and p99 of each, their ratio to the baseline's, messages per second, and the
server's CPU per message. Target: p99 of both chat paths under 100 ms.

Run:  python bench/chat.py [--quick] [--chats 1000] [--agents 100] [--every 5] [--seconds 20]
Exit status: 0, or 2 when set-up failed; missed targets do not fail the run."""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import resource
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.callbacks_harness import serving
from callcenter.app import create_app
from callcenter.cli import new_event_loop
from callcenter.domain.capacity import CapacitySetting
from callcenter.settings import Settings
from callcenter.storage.embedded import embedded_redis
from callcenter.web.state import SERVICES

TARGET_P99_MS = 100.0
SETUP_SECONDS = 120.0
STAMP = "t="  # a message body carries its send time: "t=<perf_counter ns>"


class Frame(msgspec.Struct):
    type: str
    data: Any = None
    agent_id: str | None = None
    call_id: str | None = None


class Ref(msgspec.Struct):
    id: str


class Offer(msgspec.Struct):
    call: Ref
    reservation: Ref


@dataclass(slots=True)
class Timings:
    customer_to_agent: list[float] = field(default_factory=list)
    agent_to_customer: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


# --- the server process -------------------------------------------------------------------


async def _serve(pipe: Connection, agents: int, per_agent: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        async with AsyncExitStack() as stack:
            redis_url = await stack.enter_async_context(
                embedded_redis(Path(scratch) / "redis", persist=False)
            )
            rules = Path(scratch) / "rules"
            rules.mkdir()
            (rules / "rules.yaml").write_text("rules:\n  - name: default\n")
            settings = Settings(
                redis_url=redis_url,
                data_dir=Path(scratch) / "data",
                rules_dir=rules,
                log_level="WARNING",
            )
            app = create_app(settings)
            url = await stack.enter_async_context(serving(app))
            auth = app[SERVICES].auth
            agents_service = app[SERVICES].agents
            tokens = {}
            capacity: CapacitySetting = {"voice": 0, "chat": per_agent, "sms": 0, "email": 0}
            for n in range(agents):
                name = f"agent{n:03d}"
                await agents_service.upsert(name, name, {}, capacity=capacity)
                tokens[name] = (await auth.create_token(f"agent:{name}", "bench"))[0]
            nothing: CapacitySetting = {"voice": 0, "chat": 0, "sms": 0, "email": 0}
            await agents_service.upsert("pinger", "pinger", {}, capacity=nothing)
            admin = (await auth.create_token("admin", "bench"))[0]
            gateway = (await auth.create_token("gateway", "bench"))[0]
            supervisor = (await auth.create_token("supervisor", "bench"))[0]
            pipe.send((url, admin, gateway, supervisor, tokens))
            await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
            usage = resource.getrusage(resource.RUSAGE_SELF)
            pipe.send((usage.ru_utime, usage.ru_stime))


def server_main(pipe: Connection, agents: int, per_agent: int) -> None:
    with asyncio.Runner(loop_factory=lambda: new_event_loop("uvloop")) as runner:
        runner.run(_serve(pipe, agents, per_agent))


# --- the client side ----------------------------------------------------------------------


def stamped(text: str) -> str:
    return f"{STAMP}{time.perf_counter_ns()} {text}"


def age_ms(body: str) -> float | None:
    if not body.startswith(STAMP):
        return None
    sent = int(body[len(STAMP) :].split(" ", 1)[0])
    return (time.perf_counter_ns() - sent) / 1e6


@dataclass(slots=True)
class Client:
    session: aiohttp.ClientSession
    url: str
    timings: Timings
    measuring: bool = False
    posted: int = 0

    async def post(self, path: str, token: str, body: dict[str, Any]) -> dict[str, Any] | None:
        headers = {"Authorization": f"Bearer {token}"}
        async with self.session.post(self.url + path, json=body, headers=headers) as answer:
            if answer.status >= 300:
                self.timings.errors.append(f"{path}: {answer.status} {await answer.text()}")
                return None
            self.posted += 1
            found: dict[str, Any] = await answer.json()
            return found

    async def frames(self, path: str, token: str) -> AsyncIterator[Frame]:
        decoder = msgspec.json.Decoder(list[Frame] | Frame)
        async with self.session.ws_connect(self.url + path, max_msg_size=0) as ws:
            await ws.send_json({"type": "auth", "token": token})
            async for message in ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                decoded = decoder.decode(message.data)
                for frame in decoded if isinstance(decoded, list) else [decoded]:
                    yield frame


async def desk(client: Client, agent_id: str, token: str, accepted: set[str]) -> None:
    """Accept every chat offered; answer every customer message at once."""
    async for frame in client.frames("/ws/agent", token):
        if frame.type == "route.offered" and frame.agent_id == agent_id:
            offer = msgspec.convert(frame.data, Offer)
            path = f"/v1/reservations/{offer.reservation.id}/accept"
            if await client.post(path, token, {}) is not None:
                accepted.add(offer.call.id)
        elif frame.type == "task.message" and isinstance(frame.data, dict):
            data = frame.data
            if data.get("author") != "customer" or frame.call_id is None:
                continue
            waited = age_ms(str(data.get("body", "")))
            if waited is not None and client.measuring:
                client.timings.customer_to_agent.append(waited)
            path = f"/v1/tasks/{frame.call_id}/messages"
            reply = {"body": stamped("thanks, looking into it")}
            asyncio.get_running_loop().create_task(client.post(path, token, reply))


async def chat_window(client: Client, token: str) -> None:
    """A customer's chat socket: the agent's answers, as the customer sees them."""
    async with client.session.ws_connect(client.url + "/ws/chat") as ws:
        await ws.send_json({"type": "auth", "token": token})
        async for message in ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            frame = msgspec.json.decode(message.data)
            if client.measuring and frame.get("type") == "message":
                said = frame["message"]
                waited = age_ms(said["body"]) if said["author"] == "agent" else None
                if waited is not None:
                    client.timings.agent_to_customer.append(waited)


async def listener(client: Client, token: str) -> None:
    """The baseline's side: the pinger's presence changes reaching a wallboard."""
    async for frame in client.frames("/ws/wallboard", token):
        if not client.measuring or not isinstance(frame.data, dict):
            continue
        if frame.type == "agent.updated" and frame.agent_id == "pinger":
            sent = PINGS.pop(frame.data.get("presence_since"), None)
            if sent is not None:
                client.timings.baseline.append((time.perf_counter_ns() - sent) / 1e6)


PINGS: dict[str | None, int] = {}


async def customer(client: Client, task_id: str, gateway: str, every: float) -> None:
    await asyncio.sleep(random.uniform(0, every))
    while True:
        await client.post(
            f"/v1/tasks/{task_id}/messages", gateway, {"body": stamped("still there?")}
        )
        await asyncio.sleep(every * random.uniform(0.8, 1.2))


async def pinger(client: Client, admin: str, rate: float) -> None:
    """The baseline: the pinger's presence flips; its `presence_since` tells the change."""
    presences = ("away", "break")
    n = 0
    while True:
        n += 1
        sent = time.perf_counter_ns()
        found = await client.post(
            "/v1/agents/pinger/presence", admin, {"presence": presences[n % 2]}
        )
        if found is not None:
            PINGS[found["presence_since"]] = sent
        await asyncio.sleep(1 / rate)


async def run(
    args: argparse.Namespace,
    url: str,
    admin: str,
    gateway: str,
    supervisor: str,
    tokens: dict[str, str],
) -> tuple[Timings, float, int]:
    timings = Timings()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        client = Client(session, url, timings)
        accepted: set[str] = set()
        jobs = [asyncio.create_task(listener(client, supervisor))]
        jobs += [asyncio.create_task(desk(client, a, t, accepted)) for a, t in tokens.items()]
        for name in tokens:
            await client.post(f"/v1/agents/{name}/presence", admin, {"presence": "available"})
        opened = []
        for n in range(args.chats):
            body = {"channel": "chat", "from": f"visitor-{n}", "body": stamped("hello")}
            found = await client.post("/v1/tasks", gateway, body)
            if found is not None:
                opened.append(str(found["task_id"]))
                window = chat_window(client, str(found["chat_token"]))
                jobs.append(asyncio.create_task(window))
        if not await _all_accepted(accepted, len(opened)):
            raise SystemExit(f"set-up: {len(accepted)} of {len(opened)} chats accepted")
        jobs += [asyncio.create_task(customer(client, t, gateway, args.every)) for t in opened]
        jobs.append(asyncio.create_task(pinger(client, admin, len(opened) / args.every / 10)))
        await asyncio.sleep(args.every)  # every customer has written once: steady state
        client.measuring, posted, started = True, client.posted, time.perf_counter()
        await asyncio.sleep(args.seconds)
        client.measuring = False
        elapsed, sent = time.perf_counter() - started, client.posted - posted
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
    return timings, elapsed, sent


async def _all_accepted(accepted: set[str], count: int) -> bool:
    """Wait (polling the desks' tally) until `count` chats are accepted; False on time-out."""
    deadline = time.monotonic() + SETUP_SECONDS
    while time.monotonic() < deadline:
        if len(accepted) >= count:
            return True
        await asyncio.sleep(0.2)
    return False


def figures(name: str, values: list[float], baseline: tuple[float, float]) -> str:
    if not values:
        return f"{name:<34} (none measured)"
    p50, p99 = np.percentile(values, [50, 99])
    return (
        f"{name:<34} {p50:8.2f} {p99:8.2f} {p50 / baseline[0]:7.2f}x {p99 / baseline[1]:7.2f}x"
        f" {len(values):7d}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument(
        "--every", type=float, default=5.0, help="seconds between a customer's messages"
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true", help="200 chats, 20 agents, 10 s")
    args = parser.parse_args()
    if args.quick:
        args.chats, args.agents, args.seconds = 200, 20, 10.0
    per_agent = -(-args.chats // args.agents)
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    server = multiprocessing.get_context("spawn").Process(
        target=server_main, args=(theirs, args.agents, per_agent), daemon=True
    )
    server.start()
    if not ours.poll(SETUP_SECONDS):
        print("set-up: the server did not start", file=sys.stderr)
        return 2
    url, admin, gateway, supervisor, tokens = ours.recv()
    print(
        f"{args.chats} chats over {args.agents} agents ({per_agent} each), a message "
        f"every {args.every:g} s per customer, measured {args.seconds:g} s"
    )
    with asyncio.Runner(loop_factory=lambda: new_event_loop("uvloop")) as runner:
        timings, elapsed, sent = runner.run(run(args, url, admin, gateway, supervisor, tokens))
    ours.send("stop")
    user, system = ours.recv()
    server.join(30)
    base = np.percentile(timings.baseline, [50, 99]) if timings.baseline else (1.0, 1.0)
    print(f"\n{'path':<34} {'p50 ms':>8} {'p99 ms':>8} {'p50/b':>8} {'p99/b':>8} {'n':>7}")
    print(figures("baseline: presence -> wallboard", timings.baseline, tuple(base)))
    print(figures("customer -> agent page", timings.customer_to_agent, tuple(base)))
    print(figures("agent -> customer chat socket", timings.agent_to_customer, tuple(base)))
    rate = sent / elapsed if elapsed else 0.0
    print(f"\nrequests: {rate:.0f}/s while measured; server CPU {user + system:.1f} s in all")
    for error in timings.errors[:5]:
        print("error:", error)
    worst = max(
        (
            float(np.percentile(v, 99))
            for v in (timings.customer_to_agent, timings.agent_to_customer)
            if v
        ),
        default=float("nan"),
    )
    verdict = "met" if worst <= TARGET_P99_MS else "MISSED"
    print(f"chat p99 {worst:.1f} ms (target <= {TARGET_P99_MS:g} ms): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
