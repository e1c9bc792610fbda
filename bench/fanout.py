"""Fan-out benchmark: bus events delivered to many wallboard websockets on one instance,
measured against a minimal aiohttp websocket broadcaster serving the same clients in the
same run.

The server process runs both servers on loopback (uvloop): the callcenter app with its own
redis-server, and the baseline, one handler keeping a set of sockets and a loop that
`send_str`s each event to every one of them. Client processes (`--processes`, each an
asyncio loop of aiohttp websockets, connections opened a few at a time) connect `--clients`
sockets to one server, then it publishes events at a steady `--rate` for `--seconds`: for
the callcenter `EventBus.publish` (publish → Redis → subscription → per-socket filter →
each page's outbox, flushed every 25 ms as one frame: an event, or an array of the events
that came close together), for the baseline the same frame, byte for byte, straight to the
sockets, one write per event. Each event
carries its scheduled send time, so a publisher that falls behind is charged for it; the
clients take receive time minus that per message. Per server: messages delivered, msg/s
(delivered / time from the first event to the last delivery), p50, p99, lost messages, and
CPU per delivered message: the server's user time, its system time (mostly one socket write
per frame) and the clients'. Key figures: throughput callcenter / baseline (target >= 0.5)
and the callcenter's p99 (target <= 250 ms). When the server cannot keep up, msg/s is its
capacity and the latencies grow with the run; the CPU per message says where it went.

Run:  python bench/fanout.py [--quick] [--clients 1000] [--rate 200] [--seconds 10]
      [--processes 2] [--compress]   (clients offer permessage-deflate, as browsers do)
      [--profile stats.out]   (cProfile of the server process in the callcenter phase)
Exit status: 0, or 2 when set-up failed; missed targets do not fail the run."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import logging
import multiprocessing
import os
import pstats
import resource
import sys
import tempfile
import time
from array import array
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import numpy as np
import numpy.typing as npt
from aiohttp import web

from callcenter.app import create_app
from callcenter.cli import new_event_loop
from callcenter.errors import CallcenterError
from callcenter.services.bus import BusEvent
from callcenter.settings import Settings
from callcenter.storage.embedded import embedded_redis, free_port
from callcenter.web.state import BUS, SERVICES

EVENT_TYPE = "bench.probe"
END_TYPE = "bench.end"  # the last event: a client that sees it has seen all it will
HANDSHAKES_IN_FLIGHT = 50  # per client process: connections are opened a few at a time
CONNECT_TIMEOUT_SECONDS = 120.0
SETTLE_SECONDS = 1.0  # after the last connection, before the first event
DRAIN_SECONDS = 15.0  # after the last event, how long clients may take to receive the rest
QUICK_CLIENTS = 100
QUICK_SECONDS = 3.0
P99_TARGET_MS = 250.0
RATIO_TARGET = 0.5
PROFILE_LINES = 15

Publish = Callable[[str, Any], Awaitable[None]]


class BenchError(Exception):
    """Set-up failed: a server did not start, or clients could not connect."""


# --- client processes ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phase:
    """Parent → client process: connect `clients` sockets to `url` and follow them."""

    url: str
    clients: int
    headers: dict[str, str]
    compress: bool  # offer permessage-deflate, as browsers do


@dataclass(slots=True)
class Tally:
    """Client process → parent: what its sockets received after connecting."""

    connected: int = 0
    failed: int = 0
    received: int = 0  # timestamped events
    frame_chars: int = 0
    resyncs: int = 0
    other: int = 0  # frames that were neither an event, the end, nor a resync
    last_received: float = 0.0  # wall clock
    cpu_seconds: float = 0.0
    latencies: bytes = b""  # array("d") of seconds
    errors: list[str] = field(default_factory=list)


class Stamp(msgspec.Struct):
    sent: float


class Frame(msgspec.Struct):
    """The only fields a client reads (others, e.g. the whole snapshot, are skipped)."""

    type: str = ""
    data: Stamp | None = None


_FRAME = msgspec.json.Decoder(Frame | list[Frame])


class Follower:
    """One client process's sockets: counts and latencies, and when all of them ended."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.latencies = array("d")
        self.all_ended = asyncio.Event()
        self._open = 0

    async def follow(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._open += 1
        try:
            async for message in socket:
                if message.type is aiohttp.WSMsgType.TEXT and not self._take(message.data):
                    return
        finally:
            self._open -= 1
            if self._open == 0:
                self.all_ended.set()

    def _take(self, text: str) -> bool:
        """Account for one frame (an event, or an array of events); False at the end marker."""
        try:
            decoded = _FRAME.decode(text)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self.tally.other += 1
            return True
        frames = decoded if isinstance(decoded, list) else [decoded]
        now = time.time()
        for frame in frames:
            if not self._one(frame, now, len(text) / len(frames)):
                return False
        return True

    def _one(self, frame: Frame, now: float, chars: float) -> bool:
        if frame.data is not None:
            self.latencies.append(now - frame.data.sent)
            self.tally.received += 1
            self.tally.frame_chars += int(chars)
            self.tally.last_received = max(self.tally.last_received, now)
            return True
        if frame.type == END_TYPE:
            return False
        if frame.type == "resync":
            self.tally.resyncs += 1
        else:
            self.tally.other += 1
        return True


async def _open_socket(
    session: aiohttp.ClientSession, phase: Phase, gate: asyncio.Semaphore, tally: Tally
) -> aiohttp.ClientWebSocketResponse | None:
    """A connected socket that has had its first frame (snapshot or hello), else None."""
    async with gate:
        try:
            socket = await session.ws_connect(
                phase.url, headers=phase.headers, compress=15 if phase.compress else 0
            )
            first = await socket.receive(timeout=CONNECT_TIMEOUT_SECONDS)
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            tally.failed += 1
            tally.errors.append(f"{type(error).__name__}: {error}")
            return None
    if first.type is not aiohttp.WSMsgType.TEXT:
        tally.failed += 1
        tally.errors.append(f"first frame {first.type.name}: {first.data!r:.200}")
        await socket.close()
        return None
    return socket


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _client_phase(conn: Connection, phase: Phase) -> None:
    """Connect, report ("connected", n, errors), follow until every socket saw the end or
    the parent says "stop", send the Tally, then close the sockets."""
    loop = asyncio.get_running_loop()
    tally = Tally()
    follower = Follower(tally)
    stopped = asyncio.Event()

    def on_stop() -> None:  # the message itself is read (and ignored) by the command loop
        loop.remove_reader(conn.fileno())
        stopped.set()

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        gate = asyncio.Semaphore(HANDSHAKES_IN_FLIGHT)
        opened = await asyncio.gather(
            *(_open_socket(session, phase, gate, tally) for _ in range(phase.clients))
        )
        sockets = [socket for socket in opened if socket is not None]
        tally.connected = len(sockets)
        started = _cpu_seconds()
        conn.send(("connected", tally.connected, tally.errors[:3]))
        loop.add_reader(conn.fileno(), on_stop)
        readers = [asyncio.create_task(follower.follow(socket)) for socket in sockets]
        if not readers:
            follower.all_ended.set()
        ended = asyncio.create_task(follower.all_ended.wait())
        stop = asyncio.create_task(stopped.wait())
        await asyncio.wait((ended, stop), return_when=asyncio.FIRST_COMPLETED)
        tally.cpu_seconds = _cpu_seconds() - started
        loop.remove_reader(conn.fileno())
        os.set_blocking(conn.fileno(), True)  # the event loop made it non-blocking
        for task in (*readers, ended, stop):
            task.cancel()
        await asyncio.gather(*readers, ended, stop, return_exceptions=True)
        tally.latencies = follower.latencies.tobytes()
        conn.send(tally)  # first: the server's closing work is not part of its figures
        await asyncio.gather(*(socket.close() for socket in sockets), return_exceptions=True)


def client_process(conn: Connection) -> None:
    """A client process: runs each Phase it is sent until it is sent None."""
    _raise_open_files()
    with asyncio.Runner(loop_factory=lambda: new_event_loop("uvloop")) as runner:
        while (command := conn.recv()) is not None:
            if isinstance(command, Phase):  # a late "stop" for a finished phase is dropped
                runner.run(_client_phase(conn, command))


@contextlib.contextmanager
def client_processes(count: int) -> Iterator[list[Connection]]:
    """`count` client processes, each reached through its end of a pipe."""
    context = multiprocessing.get_context("spawn")  # no copy of the server's running loop
    pipes = [context.Pipe() for _ in range(count)]
    processes = [
        context.Process(target=client_process, args=(child,), daemon=True) for _, child in pipes
    ]
    for process in processes:
        process.start()
    try:
        yield [parent for parent, _ in pipes]
    finally:
        for (parent, _), process in zip(pipes, processes, strict=True):
            with contextlib.suppress(OSError):
                parent.send(None)
            process.join(5)
            if process.is_alive():
                process.terminate()
                process.join()


def _raise_open_files() -> None:
    """Each socket is a file descriptor: allow as many as the hard limit does."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- the servers ---------------------------------------------------------------------------


class Probe(BusEvent, frozen=True, tag=EVENT_TYPE):
    """What the bench publishes: a wallboard forwards any kind of event."""

    data: dict[str, float] | None = None


class End(Probe, frozen=True, tag=END_TYPE):
    pass


EVENTS: dict[str, type[Probe]] = {EVENT_TYPE: Probe, END_TYPE: End}


def frame_for(seq: int, kind: str, data: Any) -> str:
    """An event exactly as the bus delivers it: `seq` first, then the published object."""
    body = msgspec.json.encode(EVENTS[kind](at=datetime.now(UTC), call_id="c1", data=data)).decode()
    return f'{{"seq":{seq},{body[1:]}'


class Broadcaster:
    """The baseline: one handler keeping a set of sockets, and a publish that sends each
    event to every one of them. Nothing else."""

    def __init__(self) -> None:
        self._sockets: set[web.WebSocketResponse] = set()
        self._seq = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/ws", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.add(socket)
        try:
            await socket.send_str('{"type":"hello"}')
            async for _ in socket:
                pass
        finally:
            self._sockets.discard(socket)
        return socket

    async def publish(self, kind: str, data: Any) -> None:
        self._seq += 1
        text = frame_for(self._seq, kind, data)
        for socket in tuple(self._sockets):
            with contextlib.suppress(ConnectionError):
                await socket.send_str(text)


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """`app` on a loopback port until the context ends; yields its base URL."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5.0)
    await runner.setup()
    try:
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


# --- one measurement -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    clients: int
    rate: float
    seconds: float
    processes: int
    compress: bool

    @property
    def events(self) -> int:
        return max(1, round(self.rate * self.seconds))


@dataclass(slots=True)
class Outcome:
    """One server's figures, the client processes' tallies added up."""

    connected: int = 0
    failed: int = 0
    received: int = 0
    frame_chars: int = 0
    resyncs: int = 0
    other: int = 0
    elapsed: float = 0.0
    server_user: float = 0.0  # CPU seconds of the server process while publishing
    server_sys: float = 0.0
    client_cpu: float = 0.0
    latencies: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))  # seconds
    errors: list[str] = field(default_factory=list)

    def add(self, tally: Tally) -> None:
        self.connected += tally.connected
        self.failed += tally.failed
        self.received += tally.received
        self.frame_chars += tally.frame_chars
        self.resyncs += tally.resyncs
        self.other += tally.other
        self.client_cpu += tally.cpu_seconds
        self.errors += tally.errors[:3]

    def per_second(self) -> float:
        return self.received / self.elapsed if self.elapsed > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        if len(self.latencies) == 0:
            return float("nan")
        return 1000 * float(np.quantile(self.latencies, q, method="higher"))


async def _recv(conn: Connection, within: float) -> Any:
    """The next message from a client process; raises BenchError after `within` seconds."""
    if not await asyncio.to_thread(conn.poll, within):
        raise BenchError(f"a client process did not answer within {within:g} s")
    return await asyncio.to_thread(conn.recv)


async def _collect(conn: Connection, deadline: float) -> Tally:
    """The process's Tally once its sockets saw the end, or when told to stop at `deadline`."""
    if not await asyncio.to_thread(conn.poll, max(0.0, deadline - time.monotonic())):
        conn.send("stop")
    tally: Tally = await _recv(conn, CONNECT_TIMEOUT_SECONDS)
    return tally


async def _publish_paced(publish: Publish, plan: Plan) -> float:
    """plan.events events at plan.rate, each stamped with its scheduled (wall) time, then
    the end marker. The time of the first."""
    start = time.time() + 0.05
    for index in range(plan.events):
        scheduled = start + index / plan.rate
        delay = scheduled - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await publish(EVENT_TYPE, {"score": 0.1, "sent": scheduled})
    await publish(END_TYPE, None)
    return start


async def measure(
    workers: Sequence[Connection],
    url: str,
    headers: dict[str, str],
    publish: Publish,
    plan: Plan,
    profiler: cProfile.Profile | None = None,
) -> Outcome:
    """Connect plan.clients sockets to `url` across the client processes, publish, tally."""
    shares = [plan.clients // len(workers)] * len(workers)
    for index in range(plan.clients % len(workers)):
        shares[index] += 1
    for conn, share in zip(workers, shares, strict=True):
        conn.send(Phase(url, share, headers, plan.compress))
    replies = await asyncio.gather(*(_recv(conn, CONNECT_TIMEOUT_SECONDS) for conn in workers))
    if not any(connected for _, connected, _ in replies):
        errors = [error for _, _, errors in replies for error in errors]
        raise BenchError(f"no client could connect to {url}: {errors[:1]}")
    await asyncio.sleep(SETTLE_SECONDS)
    before = resource.getrusage(resource.RUSAGE_SELF)
    if profiler is not None:
        profiler.enable()
    try:
        start = await _publish_paced(publish, plan)
        deadline = time.monotonic() + DRAIN_SECONDS
        tallies = await asyncio.gather(*(_collect(conn, deadline) for conn in workers))
    finally:
        if profiler is not None:
            profiler.disable()
    after = resource.getrusage(resource.RUSAGE_SELF)
    outcome = Outcome(
        server_user=after.ru_utime - before.ru_utime, server_sys=after.ru_stime - before.ru_stime
    )
    for tally in tallies:
        outcome.add(tally)
    last = max(tally.last_received for tally in tallies)
    outcome.elapsed = last - start if last else 0.0
    outcome.latencies = np.concatenate(
        [np.frombuffer(tally.latencies, dtype=np.float64) for tally in tallies]
    )
    return outcome


# --- the run -------------------------------------------------------------------------------


def _per_message_us(seconds: float, outcome: Outcome) -> float:
    return 1e6 * seconds / outcome.received if outcome.received else 0.0


def print_report(results: dict[str, Outcome], plan: Plan) -> None:
    print(
        f"\n{plan.clients} clients in {plan.processes} processes, {plan.rate:g} events/s for "
        f"{plan.seconds:g} s ({plan.events} events, {plan.events * plan.clients} to deliver)"
        f"{', permessage-deflate' if plan.compress else ''}"
    )
    print(
        f"{'':<11}{'':>32}{'latency':>18}{'':>23}{'CPU µs per message':>25}\n"
        f"{'server':<11}{'connected':>10}{'delivered':>11}{'msg/s':>11}{'p50 ms':>9}"
        f"{'p99 ms':>9}{'lost':>9}{'resyncs':>8}{'bytes':>6}{'srv user':>9}{'srv sys':>8}"
        f"{'clients':>8}"
    )
    for name, outcome in results.items():
        lost = plan.events * outcome.connected - outcome.received
        size = outcome.frame_chars / outcome.received if outcome.received else 0.0
        print(
            f"{name:<11}{outcome.connected:>10}{outcome.received:>11}"
            f"{outcome.per_second():>11.0f}{outcome.percentile_ms(0.5):>9.1f}"
            f"{outcome.percentile_ms(0.99):>9.1f}{lost:>9}{outcome.resyncs:>8}{size:>6.0f}"
            f"{_per_message_us(outcome.server_user, outcome):>9.1f}"
            f"{_per_message_us(outcome.server_sys, outcome):>8.1f}"
            f"{_per_message_us(outcome.client_cpu, outcome):>8.1f}"
        )
    ours, baseline = results["callcenter"], results["baseline"]
    ratio = ours.per_second() / baseline.per_second() if baseline.per_second() else 0.0
    p99 = ours.percentile_ms(0.99)
    print(f"\nthroughput callcenter/baseline = {ratio:.2f} (target >= {RATIO_TARGET})")
    print(f"callcenter p99 = {p99:.1f} ms (target <= {P99_TARGET_MS:g} ms)")
    if not ratio >= RATIO_TARGET:
        print(f"TARGET MISSED: throughput ratio {ratio:.2f} < {RATIO_TARGET}")
    if not p99 <= P99_TARGET_MS:
        print(f"TARGET MISSED: p99 {p99:.1f} ms > {P99_TARGET_MS:g} ms")
    for name, outcome in results.items():
        if outcome.failed or outcome.other:
            print(f"{name}: {outcome.failed} failed connections, {outcome.other} odd frames")
        for error in outcome.errors:
            print(f"error ({name}): {error}", file=sys.stderr)


def print_profile(profiler: cProfile.Profile, path: Path) -> None:
    profiler.dump_stats(path)
    print(f"\ncallcenter phase, server process (cProfile, top by own time; all in {path}):")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(PROFILE_LINES)


async def run(args: argparse.Namespace, plan: Plan, scratch: Path) -> int:
    profiler = cProfile.Profile() if args.profile else None
    async with AsyncExitStack() as stack:
        redis_url = await stack.enter_async_context(
            embedded_redis(scratch / "redis", persist=False)
        )
        settings = Settings(redis_url=redis_url, data_dir=scratch, rules_dir=None)
        app = create_app(settings)
        callcenter_url = await stack.enter_async_context(serving(app))
        token, _ = await app[SERVICES].auth.create_token("supervisor", "bench")
        broadcaster = Broadcaster()
        baseline_url = await stack.enter_async_context(serving(broadcaster.app()))
        workers = stack.enter_context(client_processes(plan.processes))
        bus = app[BUS]

        async def publish(kind: str, data: Any) -> None:
            await bus.publish(EVENTS[kind](data=data, call_id="c1"))

        print("baseline ...", flush=True)
        results = {
            "baseline": await measure(workers, f"{baseline_url}/ws", {}, broadcaster.publish, plan)
        }
        print("callcenter ...", flush=True)
        results["callcenter"] = await measure(
            workers,
            f"{callcenter_url}/ws/wallboard",
            {"Authorization": f"Bearer {token}"},
            publish,
            plan,
            profiler,
        )
    print_report(results, plan)
    if profiler is not None:
        print_profile(profiler, Path(args.profile))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--clients", type=int, default=1000, help="websockets per server")
    parser.add_argument("--rate", type=float, default=200.0, help="events published per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long events are published")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_CLIENTS} clients, {QUICK_SECONDS:g} s"
    )
    parser.add_argument(
        "--compress", action="store_true", help="clients offer permessage-deflate, as browsers do"
    )
    parser.add_argument("--profile", help="cProfile the callcenter phase into this file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    plan = Plan(
        clients=QUICK_CLIENTS if args.quick else args.clients,
        rate=args.rate,
        seconds=QUICK_SECONDS if args.quick else args.seconds,
        processes=args.processes,
        compress=args.compress,
    )
    if min(plan.clients, plan.processes) < 1 or plan.rate <= 0 or plan.seconds <= 0:
        print(
            "fanout bench: --clients, --processes, --rate, --seconds must be positive",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=logging.WARNING)
    _raise_open_files()
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as scratch:
        # the event loop the server runs on (uvloop where installed)
        with asyncio.Runner(loop_factory=lambda: new_event_loop("uvloop")) as runner:
            try:
                return runner.run(run(args, plan, Path(scratch)))
            except (BenchError, CallcenterError) as error:
                print(f"fanout bench: {error}", file=sys.stderr)
                return 2


if __name__ == "__main__":
    raise SystemExit(main())
