"""What the tests that run `callcenter serve` processes share: their environment (none of
the test runner's CALLCENTER_* settings), starting several on one Redis, and an admin
token made with the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from callcenter.simulate.server_command import free_port, serve
from callcenter.simulate.server_process_sync import running_server_sync

CLI = [sys.executable, "-m", "callcenter"]


def serve_environment(**settings: str) -> dict[str, str]:
    """The environment without CALLCENTER_*, quiet logs, plus `settings` (CALLCENTER_*)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    env["CALLCENTER_LOG_LEVEL"] = "WARNING"
    env.update(settings)
    return env


def admin_token(redis_url: str) -> str:
    """A new admin token in the Redis at `redis_url` (`callcenter tokens create`)."""
    created = subprocess.run(
        [*CLI, "tokens", "--redis-url", redis_url, "create", "--role", "admin"],
        env=serve_environment(),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return created.stdout.strip()


@dataclass
class Served:
    """One started `callcenter serve` process and the file its output goes to."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_servers(
    stack: ExitStack,
    count: int,
    *,
    redis_url: str,
    rules_dir: Path,
    folder: Path,
    environ: Mapping[str, str],
) -> list[Served]:
    """`count` serve processes on `redis_url`, each up before the next starts; they stop
    when `stack` closes. Logs go to `folder`/server<i>.log."""
    started = []
    for index in range(count):
        log = folder / f"server{index}.log"
        out = stack.enter_context(log.open("wb"))
        spec = serve(
            free_port(),
            redis_url=redis_url,
            rules_dir=rules_dir,
            data_dir=folder / "data",
            environ=environ,
            cwd=folder,
            name=f"server{index}",
        )
        running = stack.enter_context(running_server_sync(spec, output=out))
        started.append(Served(spec.name, spec.port, running.process, log))
    return started
