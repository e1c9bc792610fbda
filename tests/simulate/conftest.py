"""A real `callcenter serve` child process for the simulator's tests, on the session's
redis-server (flushed per test), configured for the simulated Twilio."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from callcenter.simulate.runner import RunOptions
from callcenter.simulate.scenario import Scenario
from callcenter.simulate.scenario_loader import load_scenario
from callcenter.simulate.server_process import (
    RunningServer,
    TwilioAccount,
    free_port,
    server_process,
)

SCENARIOS = Path(__file__).parent / "scenarios"


def scenario(name: str) -> Scenario:
    return load_scenario(SCENARIOS / f"{name}.yaml")


@dataclass(frozen=True, slots=True)
class Server:
    running: RunningServer
    twilio: TwilioAccount
    output: list[str]

    def options(self, **changes: Any) -> RunOptions:
        base = RunOptions(
            server_url=self.running.url,
            token=self.running.admin_token,
            public_url=self.running.url,
            twilio_account_sid=self.twilio.account_sid,
            twilio_auth_token=self.twilio.auth_token,
            twilio_api_port=self.twilio.api_port,
            connect_timeout_seconds=5.0,
            drain_seconds=60.0,
        )
        return dataclasses.replace(base, **changes)


def server_environment(redis_url: str, **settings: str) -> dict[str, str]:
    """This process's environment without its CALLCENTER_* settings, plus `settings`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    return {
        **clean,
        "CALLCENTER_REDIS_URL": redis_url,
        "CALLCENTER_LOG_LEVEL": "WARNING",
        **settings,
    }


ServerFactory = Callable[..., AbstractAsyncContextManager[Server]]


@pytest.fixture
async def start_server(
    redis_url: str, redis_client: object, tmp_path: Path
) -> AsyncIterator[ServerFactory]:
    """`async with start_server(rules_dir, speech_engine="pocketsphinx") as server:`."""

    @asynccontextmanager
    async def start(rules_dir: Path, **settings: str) -> AsyncIterator[Server]:
        twilio = TwilioAccount.fresh()
        port = free_port()
        environ = server_environment(
            redis_url,
            CALLCENTER_PUBLIC_URL=f"http://127.0.0.1:{port}",
            **twilio.environment(),
            **{f"CALLCENTER_{k.upper()}": v for k, v in settings.items()},
        )
        output: list[str] = []
        async with server_process(
            port=port, rules_dir=rules_dir, environ=environ, say=output.append, data_dir=tmp_path
        ) as running:
            yield Server(running, twilio, output)

    yield start
