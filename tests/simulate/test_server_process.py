"""Server child processes, the one way the demo, the tests and the benches start one: the
command line, readiness, a server that fails to start named with its output; and the
server's own checks the simulator asks through its command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from callcenter.simulate.server_cli import english_vosk_model, rules_problems
from callcenter.simulate.server_command import (
    ServerSpec,
    answered_ok,
    free_port,
    serve,
    token_in,
)
from callcenter.simulate.server_process import ServerFailed, running_server
from callcenter.simulate.server_process_sync import running_server_sync

# A bad setting: `callcenter serve` says so in one line on stderr and exits with 2.
BAD_ENVIRONMENT = {
    **{k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")},
    "CALLCENTER_LOG_LEVEL": "LOUD",
}


def test_the_serve_command_line() -> None:
    spec = serve(8123, dev=True, redis_url="redis://r:1/0", data_dir=Path("/d"), name="one")
    assert spec.command == (
        sys.executable,
        "-m",
        "callcenter",
        "serve",
        "--port",
        "8123",
        "--redis-url",
        "redis://r:1/0",
        "--data-dir",
        "/d",
        "--dev",
    )
    assert (spec.url, spec.prints_token, spec.name) == ("http://127.0.0.1:8123", True, "one")
    assert spec.probe() == b"GET /readyz HTTP/1.0\r\nHost: 127.0.0.1:8123\r\n\r\n"
    assert not serve(8123).prints_token


def test_status_lines_and_token_lines() -> None:
    assert answered_ok(b"HTTP/1.1 200 OK\r\n")
    assert not answered_ok(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert not answered_ok(b"")
    assert token_in("dev mode: admin token (valid 24 h): cc_a.b") == "cc_a.b"
    assert token_in("something else") is None


def test_a_server_that_exits_is_named_with_its_output(tmp_path: Path) -> None:
    spec = serve(free_port(), environ=BAD_ENVIRONMENT, name="the bad one")
    log = tmp_path / "server.log"
    with (
        log.open("wb") as out,
        pytest.raises(ServerFailed, match="the bad one exited with code 2") as caught,
        running_server_sync(spec, output=out),
    ):
        pass
    assert "CALLCENTER_LOG_LEVEL" in str(caught.value)


async def test_the_async_flavour_names_it_too(tmp_path: Path) -> None:
    spec = serve(free_port(), environ=BAD_ENVIRONMENT)
    log = tmp_path / "server.log"
    with log.open("wb") as out, pytest.raises(ServerFailed) as caught:
        async with running_server(spec, output=out):
            pass
    assert "the server exited with code 2" in str(caught.value)
    assert "CALLCENTER_LOG_LEVEL" in str(caught.value)


async def test_any_http_server_command(tmp_path: Path) -> None:
    """Not only `callcenter serve`: here Python's own HTTP server, ready once / answers."""
    (tmp_path / "index.html").write_text("hello")
    port = free_port()
    command = (sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1")
    spec = ServerSpec(command=command, port=port, cwd=tmp_path, ready_path="/")
    with (tmp_path / "log").open("wb") as out:
        async with running_server(spec, output=out) as server:
            assert server.admin_token == ""
            assert server.process.returncode is None
    assert server.process.returncode is not None


def test_the_servers_rules_check(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("queues:\n  general: {}\nrules:\n  - name: all\n    queue: general\n")
    assert rules_problems(good) == []
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: all\n    queue: nowhere\n")
    assert rules_problems(bad) == [f"{bad}:3: queue 'nowhere' is not defined"]


def test_the_demo_takes_a_complete_english_model(tmp_path: Path) -> None:
    assert english_vosk_model(tmp_path / "absent") is None
    for name in ("vosk-model-small-de-0.15", ".vosk-model-small-en-us-0.15.partial"):
        _model(tmp_path / name)
    (tmp_path / "vosk-model-en-us-0.22").mkdir()  # incomplete
    assert english_vosk_model(tmp_path) is None
    _model(tmp_path / "vosk-model-small-en-us-0.15")
    assert english_vosk_model(tmp_path) == "vosk-model-small-en-us-0.15"


def _model(path: Path) -> None:
    """The files `callcenter models verify` looks for (empty will do)."""
    for part in ("am/final.mdl", "conf/mfcc.conf", "conf/model.conf", "graph/HCLG.fst"):
        (path / part).parent.mkdir(parents=True, exist_ok=True)
        (path / part).touch()
