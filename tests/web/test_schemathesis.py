"""Schemathesis against a live server (opt-in: RUN_SCHEMATHESIS=1, about a minute).

A `callcenter serve` process on the session's Redis is fuzzed from its own
/v1/openapi.json through every phase (examples, coverage, fuzzing, stateful) as an admin
(a gateway for /v1/events): no 5xx, every answer as documented (status, content type,
body) and no schema-valid request refused. Run with `-s` to see the figures."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from callcenter.simulate.server_command import free_port, serve
from callcenter.simulate.server_process_sync import running_server_sync
from tests.conftest import BASIC_RULES

pytestmark = [
    pytest.mark.schemathesis,
    pytest.mark.skipif(
        os.environ.get("RUN_SCHEMATHESIS") != "1",
        reason="opt-in: RUN_SCHEMATHESIS=1 fuzzes a live server with schemathesis (~1 min)",
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("schemathesis") is None,
        reason="schemathesis is not installed (pip install -e '.[test]')",
    ),
]

CLI = [sys.executable, "-m", "callcenter"]
HOOKS = Path(__file__).parent / "schemathesis_hooks.py"
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "50"))
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "positive_data_acceptance",
)
# Websocket routes answer a plain GET with 400 (not a handshake, as documented) or 401:
# schemathesis speaks plain HTTP, so of them "accepted" means refused only for that.
WEBSOCKETS = ("twilioMediaStream", "l16MediaStream", "wallboardSocket", "agentSocket")


@dataclass(frozen=True)
class LiveServer:
    url: str
    admin: str
    gateway: str
    log: Path


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    env["CALLCENTER_LOG_LEVEL"] = "WARNING"
    env["NO_COLOR"] = "1"
    return env


def _token(redis_url: str, role: str) -> str:
    issued = subprocess.run(
        [*CLI, "tokens", "--redis-url", redis_url, "create", "--role", role, "--label", "fuzz"],
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return issued.stdout.split()[0]


@pytest.fixture
def live_server(redis_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """`callcenter serve` on a free loopback port, on the session's Redis (flushed)."""
    with redis.Redis.from_url(redis_url) as client:
        client.flushall()
    port = free_port()
    log = tmp_path / "server.log"
    spec = serve(
        port,
        host="127.0.0.1",
        redis_url=redis_url,
        rules_dir=BASIC_RULES,
        data_dir=tmp_path / "data",
        environ=_env(),
        cwd=tmp_path,
    )
    with log.open("wb") as out, running_server_sync(spec, output=out) as server:
        yield LiveServer(server.url, _token(redis_url, "admin"), _token(redis_url, "gateway"), log)


def _config(server: LiveServer) -> str:
    """The run's schemathesis.toml (checks set here, not with --checks, so that the
    websocket routes can have their own)."""
    checks = "\n".join(f"{name}.enabled = true" for name in CHECKS)
    websockets = ", ".join(f'"{name}"' for name in WEBSOCKETS)
    return f"""
hooks = "{HOOKS}"
headers = {{ Authorization = "Bearer {server.admin}" }}

[checks]
{checks}

[[operations]]
include-path = "/v1/events"
headers = {{ Authorization = "Bearer {server.gateway}" }}

[[operations]]
include-operation-id = [{websockets}]
checks.positive_data_acceptance.expected-statuses = ["400", "401", "403", "404"]

[[operations]]
include-operation-id = ["chatSocket"]
checks.positive_data_acceptance.expected-statuses = ["426"]
"""


def _figures(output: str) -> str:
    """The "Test cases" line of the summary, e.g. "3803 generated, 3803 passed"."""
    found = re.search(r"Test cases:\s*\n\s*(.+)", output)
    return found.group(1).strip() if found else "no summary"


@pytest.mark.timeout(600)
def test_the_api_does_what_its_document_says(live_server: LiveServer, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config(live_server))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(config),
            "run",
            f"{live_server.url}/v1/openapi.json",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--workers",
            "2",
            "--continue-on-failure",
            "--request-timeout",
            "10",
        ],
        env=_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=540,
    )
    output = run.stdout + run.stderr
    print(f"schemathesis: {_figures(output)}")
    server_log = live_server.log.read_text(errors="replace")
    assert run.returncode == 0, f"{output}\n--- server log ---\n{server_log[-4000:]}"
    assert "Traceback" not in server_log, server_log[-4000:]
