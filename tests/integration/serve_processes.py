"""What the tests that run `callcenter serve` processes share: their environment (none of
the test runner's CALLCENTER_* settings) and an admin token made with the CLI."""

from __future__ import annotations

import os
import subprocess
import sys

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
