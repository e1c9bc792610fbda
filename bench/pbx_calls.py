"""PBX call control benchmark: what the server's Asterisk (ARI) control adds to a call,
against the generic dialect doing the same steps in the same run.

One server (in this process, on an embedded Redis) follows the loopback Asterisk of
callcenter.simulate.fake_asterisk as an ARI application. Per call, alternately:
- ARI: a caller enters Stasis → the call is queued on the server and the caller is in its
  holding bridge with music ("held"); an agent accepts → the server has originated the
  agent's leg and bridged it with the caller ("bridged").
- generic (the baseline): `POST /v1/events` call.created answered (the call queued); the
  agent's accept answered (the call connected).
Then a burst of --burst callers arriving at once through ARI, against the same burst of
call.created posts: the time until every caller is held, or every post answered.

The figures are ratios to the baseline measured alongside (the machine is shared).

Run:  python bench/pbx_calls.py [--calls 100] [--burst 200]
Exit status: 0, or 1 when a call did not get through."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from aiohttp import web

from callcenter.app import create_app
from callcenter.settings import Secret, Settings
from callcenter.simulate.fake_asterisk import FakeAsterisk
from callcenter.simulate.server_process import free_port
from callcenter.storage.embedded import embedded_redis
from callcenter.web.state import SERVICES

RULES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "rules" / "basic"
DEADLINE = 10.0


class Bench:
    def __init__(self, url: str, pbx: FakeAsterisk, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.pbx = pbx
        self.session = session
        self.headers: dict[str, str] = {}

    async def json(self, method: str, path: str, body: Any = None) -> Any:
        async with self.session.request(
            method, self.url + path, json=body, headers=self.headers
        ) as answer:
            if answer.status >= 400:
                raise RuntimeError(f"{method} {path}: {answer.status} {await answer.text()}")
            return await answer.json() if answer.status != 204 else None

    async def until(self, ready: Callable[[], Awaitable[bool]]) -> None:
        deadline = time.perf_counter() + DEADLINE
        while not await ready():
            if time.perf_counter() > deadline:
                raise RuntimeError("a call did not get through in time")
            await asyncio.sleep(0.001)

    async def offered(self, call_id: str) -> str:
        found: dict[str, str] = {}

        async def ready() -> bool:
            call = await self.json("GET", f"/v1/calls/{call_id}")
            if call["state"] == "offered":
                found["reservation"] = call["reservation"]["id"]
            return bool(found)

        await self.until(ready)
        return found["reservation"]

    async def ari_call(self, n: int) -> tuple[float, float]:
        """(seconds until held, seconds from accept to bridged)."""
        started = time.perf_counter()
        caller = await self.pbx.incoming_call(f"+1555{n:07d}", "+15559870000")

        async def held() -> bool:
            bridge = self.pbx.bridges.get(f"cc-hold-{caller}")
            return bridge is not None and caller in bridge.channels

        await self.until(held)
        held_after = time.perf_counter() - started
        reservation = await self.offered(caller)
        accepted = time.perf_counter()
        await self.json("POST", f"/v1/reservations/{reservation}/accept")

        async def bridged() -> bool:
            bridge = self.pbx.bridges.get(f"cc-talk-{caller}")
            return bridge is not None and len(bridge.channels) == 2

        await self.until(bridged)
        bridged_after = time.perf_counter() - accepted
        await self.pbx.hang_up(caller)
        await self.until(lambda: self._ended(caller))
        return held_after, bridged_after

    async def generic_call(self, n: int) -> tuple[float, float]:
        """(seconds for call.created, seconds for the accept)."""
        call_id = f"g{n}"
        event = {"type": "call.created", "event_id": f"{call_id}-c", "call_id": call_id}
        started = time.perf_counter()
        await self.json("POST", "/v1/events", {**event, "from": f"+1556{n:07d}"})
        created_after = time.perf_counter() - started
        reservation = await self.offered(call_id)
        accepted = time.perf_counter()
        await self.json("POST", f"/v1/reservations/{reservation}/accept")
        accept_after = time.perf_counter() - accepted
        ended = {"type": "call.ended", "event_id": f"{call_id}-e", "call_id": call_id}
        await self.json("POST", "/v1/events", ended)
        await self.until(lambda: self._ended(call_id))
        return created_after, accept_after

    async def _ended(self, call_id: str) -> bool:
        """The call over and Ann idle again (her wrap-up done at once)."""
        call = await self.json("GET", f"/v1/calls/{call_id}")
        if call["state"] not in ("wrap_up", "ended"):
            return False
        agent = await self.json("GET", "/v1/agents/ann")
        if agent["activity"] == "wrap_up":
            await self.json("POST", "/v1/agents/ann/wrap-up/done")
            return False
        return bool(agent["activity"] == "idle")

    async def ari_burst(self, size: int) -> float:
        started = time.perf_counter()
        callers = await asyncio.gather(
            *(self.pbx.incoming_call(f"+1557{n:07d}") for n in range(size))
        )

        async def all_held() -> bool:
            return all(f"cc-hold-{c}" in self.pbx.bridges for c in callers)

        await self.until(all_held)
        return time.perf_counter() - started

    async def generic_burst(self, size: int) -> float:
        started = time.perf_counter()
        await asyncio.gather(
            *(
                self.json(
                    "POST",
                    "/v1/events",
                    {"type": "call.created", "event_id": f"b{n}", "call_id": f"b{n}"},
                )
                for n in range(size)
            )
        )
        return time.perf_counter() - started


def p50_p99(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="pbx-bench-") as scratch:
        async with embedded_redis(Path(scratch) / "redis", persist=False) as redis_url:
            pbx = FakeAsterisk(password="bench")
            await pbx.start()
            settings = Settings(
                redis_url=redis_url,
                data_dir=Path(scratch),
                rules_dir=RULES,
                token_cache_seconds=0,
                log_level="WARNING",
            )
            settings = dataclasses.replace(
                settings, asterisk_ari_url=pbx.base_url, asterisk_ari_password=Secret("bench")
            )
            runner = web.AppRunner(create_app(settings))
            await runner.setup()
            port = free_port()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            try:
                return await measure(args, pbx, f"http://127.0.0.1:{port}", runner.app)
            finally:
                await runner.cleanup()
                await pbx.stop()


async def measure(
    args: argparse.Namespace, pbx: FakeAsterisk, url: str, app: web.Application
) -> int:
    await pbx.wait_connected(timeout=10)
    pbx.set_endpoint("PJSIP/ann", "answer", after_seconds=0.0)  # the phone picks up at once
    token, _ = await app[SERVICES].auth.create_token("admin", "bench")
    async with aiohttp.ClientSession() as session:
        bench = Bench(url, pbx, session)
        bench.headers = {"Authorization": f"Bearer {token}"}
        await bench.json("PUT", "/v1/agents/ann", {"name": "Ann", "skills": {}})
        await bench.json("POST", "/v1/agents/ann/presence", {"presence": "available"})
        ari: list[tuple[float, float]] = []
        generic: list[tuple[float, float]] = []
        for n in range(args.calls):  # alternated, so both see the same machine
            ari.append(await bench.ari_call(n))
            generic.append(await bench.generic_call(n))
        await bench.json("POST", "/v1/agents/ann/presence", {"presence": "away"})
        generic_burst = await bench.generic_burst(args.burst)
        ari_burst = await bench.ari_burst(args.burst)
    report(args, ari, generic, ari_burst, generic_burst)
    return 0


def report(
    args: argparse.Namespace,
    ari: list[tuple[float, float]],
    generic: list[tuple[float, float]],
    ari_burst: float,
    generic_burst: float,
) -> None:
    rows = [
        ("ARI: caller in Stasis -> held with music", [a for a, _ in ari]),
        ("generic: call.created answered", [g for g, _ in generic]),
        ("ARI: accept -> agent's leg bridged", [b for _, b in ari]),
        ("generic: accept answered", [g for _, g in generic]),
    ]
    print(f"{args.calls} calls each way, alternated; one agent; in-process server and ARI")
    print(f"{'step':<44}{'p50 ms':>9}{'p99 ms':>9}")
    figures = {}
    for name, values in rows:
        p50, p99 = p50_p99(values)
        figures[name] = p50
        print(f"{name:<44}{p50 * 1000:>9.2f}{p99 * 1000:>9.2f}")
    print()
    print(
        "held / call.created (p50 ratio) = "
        f"{figures[rows[0][0]] / figures[rows[1][0]]:.2f}"
        " (ARI adds the hold: answer, a bridge, the channel in it, music)"
    )
    print(
        "bridged / accept (p50 ratio) = "
        f"{figures[rows[2][0]] / figures[rows[3][0]]:.2f}"
        " (the originate, the leg's answer, a mixing bridge)"
    )
    print(
        f"burst of {args.burst}: all held through ARI in {ari_burst * 1000:.0f} ms, "
        f"all call.created answered in {generic_burst * 1000:.0f} ms: "
        f"ratio {ari_burst / generic_burst:.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--burst", type=int, default=200)
    args = parser.parse_args()
    try:
        return asyncio.run(run(args))
    except RuntimeError as error:
        print(f"pbx_calls: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
