"""The server against a Redis of its own that freezes (SIGSTOP) or goes away: readiness
answers within a second whatever Redis does, the timer loop says once that it paused and
once that it resumed instead of a traceback every round, and other background work that
meets the outage logs one line, not a traceback."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from callcenter.app import create_app
from callcenter.settings import Settings
from callcenter.storage.embedded import find_redis_server, free_port
from callcenter.web.state import DISPATCHER, METRICS
from tests.conftest import BASIC_RULES, AppClient
from tests.polling import eventually

pytestmark = pytest.mark.slow


class OwnRedis:
    """A redis-server this test may freeze, stop and start again on the same port."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [find_redis_server(), "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)

    def stop(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)  # in case it is frozen
        self.process.terminate()
        self.process.wait(10)

    def signal(self, number: signal.Signals) -> None:
        assert self.process is not None
        os.kill(self.process.pid, number)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.stop()


@pytest.fixture
async def outage_client(
    aiohttp_client: Callable[..., Awaitable[AppClient]], own_redis: OwnRedis, tmp_path: Path
) -> AsyncIterator[AppClient]:
    async def reachable() -> bool:
        reader_writer = await asyncio.open_connection("127.0.0.1", own_redis.port)
        reader_writer[1].close()
        return True

    await eventually(lambda: _quietly(reachable), seconds=10, every=0.05)
    settings = Settings(redis_url=own_redis.url, data_dir=tmp_path, rules_dir=BASIC_RULES)
    yield await aiohttp_client(create_app(settings))


async def _quietly(check: Callable[[], Awaitable[bool]]) -> bool:
    try:
        return await check()
    except OSError:
        return False


async def test_readiness_answers_within_a_second_when_redis_is_frozen(
    outage_client: AppClient, own_redis: OwnRedis
) -> None:
    assert (await outage_client.get("/readyz")).status == 200
    own_redis.signal(signal.SIGSTOP)
    async with asyncio.timeout(2.5):  # the probe's 2 s budget, with room; it used to take 4-10 s
        response = await outage_client.get("/readyz")
    assert response.status == 503
    assert response.content_type == "application/problem+json"
    own_redis.signal(signal.SIGCONT)
    await eventually(lambda: _status(outage_client, "/readyz", 200), seconds=10, every=0.1)


async def _status(client: AppClient, path: str, expected: int) -> bool:
    return (await client.get(path)).status == expected


def task_errors(client: AppClient, task: str) -> float:
    """Failures counted at the boundary of a background task."""
    registry = client.app[METRICS].registry
    return registry.get_sample_value("callcenter_task_errors_total", {"task": task}) or 0.0


async def test_the_timer_loop_logs_an_outage_once_and_its_end_once(
    outage_client: AppClient, own_redis: OwnRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="callcenter.services.timer_loop")
    own_redis.stop()
    await eventually(lambda: task_errors(outage_client, "timers") >= 5, seconds=30, every=0.05)
    records = [r for r in caplog.records if r.name == "callcenter.services.timer_loop"]
    assert [r.getMessage().split(":")[0] for r in records] == ["timers paused"]
    assert all(r.exc_info is None for r in records)
    own_redis.start()
    await eventually(
        lambda: any("timers resumed" in r.getMessage() for r in caplog.records), seconds=30
    )
    paused = [r for r in caplog.records if "timers paused" in r.getMessage()]
    assert len(paused) == 1


async def test_background_work_meeting_the_outage_logs_one_line_not_a_traceback(
    outage_client: AppClient, own_redis: OwnRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="callcenter.services.dispatch")
    own_redis.stop()
    outage_client.app[DISPATCHER].request()
    await eventually(lambda: task_errors(outage_client, "dispatch") >= 1, seconds=30, every=0.05)
    records = [r for r in caplog.records if r.name == "callcenter.services.dispatch"]
    assert records and all(r.exc_info is None for r in records)
    assert "dispatch pass failed (storage unavailable" in records[0].getMessage()
    own_redis.start()
