"""The `callcenter` command as a user runs it: real processes, real Redis."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from callcenter.simulate.server_command import free_port, serve
from callcenter.simulate.server_process_sync import RunningServerSync, running_server_sync

CLI = [sys.executable, "-m", "callcenter"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    env.update(extra)
    return env


def test_bad_setting_is_one_clear_line() -> None:
    done = subprocess.run(
        [*CLI, "serve"],
        env=_env(CALLCENTER_PORT="eighty"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "CALLCENTER_PORT" in lines[0] and "eighty" in lines[0]


def test_unreachable_redis_is_one_clear_line() -> None:
    port = free_port()
    done = subprocess.run(
        [*CLI, "serve", "--redis-url", f"redis://127.0.0.1:{port}/0", "--port", "0"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2, done.stderr
    assert f"cannot reach Redis at redis://127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


def test_tokens_create_list_revoke(redis_url: str) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, "tokens", "--redis-url", redis_url, *args],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=30,
        )

    created = run("create", "--role", "agent:a7", "--label", "desk 7")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("cc_")
    token_id = token[3:].split(".")[0]
    listed = run("list")
    assert token_id in listed.stdout and "agent:a7" in listed.stdout
    assert token.split(".")[1] not in listed.stdout  # the secret is never shown again
    assert run("revoke", token_id).returncode == 0
    assert token_id not in run("list").stdout
    assert run("revoke", token_id).returncode == 1
    bad = run("create", "--role", "janitor")
    assert bad.returncode == 2 and "unknown role" in bad.stderr


@pytest.mark.slow
def test_serve_with_embedded_redis_stops_gracefully(tmp_path: Path) -> None:
    port = free_port()
    spec = serve(port, data_dir=tmp_path, dev=True, environ=_env())
    with running_server_sync(spec) as server:
        _check_serving(server, port)
        url_file = tmp_path / "redis" / "server.url"
        redis_socket = tmp_path / "redis" / "redis.sock"
        assert url_file.read_text() == f"unix://{redis_socket.resolve()}"
        with socket.socket(socket.AF_UNIX) as sock:
            assert sock.connect_ex(str(redis_socket)) == 0
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=20) == 0
    assert not url_file.exists()
    assert not redis_socket.exists()  # the embedded redis-server is gone too
    assert any((tmp_path / "redis").glob("appendonly*")), "AOF persistence was not on"


def _check_serving(server: RunningServerSync, port: int) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/agents",
        headers={"Authorization": f"Bearer {server.admin_token}"},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200


def test_serve_refuses_invalid_rules(tmp_path: Path, redis_url: str) -> None:
    (tmp_path / "rules.yaml").write_text("rules:\n  - name: only\n    when: 'call.queue =='\n")
    done = subprocess.run(
        [*CLI, "serve", "--redis-url", redis_url, "--rules-dir", str(tmp_path), "--port", "0"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert f"{tmp_path / 'rules.yaml'}:3: bad condition" in done.stderr
    assert "Traceback" not in done.stderr


def _request(port: int, method: str, path: str, token: str, body: bytes | None = None) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.loads(answer.read())


@pytest.mark.slow
def test_sighup_reloads_rules_and_keeps_them_on_error(tmp_path: Path, redis_url: str) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "queues:\n  general: {}\n  billing: {}\nrules:\n  - name: default\n    queue: general\n"
    )
    port = free_port()
    spec = serve(port, redis_url=redis_url, rules_dir=tmp_path, dev=True, environ=_env())
    with running_server_sync(spec) as server:
        process, token = server.process, server.admin_token
        event = {
            "type": "call.created",
            "event_id": f"e-{port}",
            "call_id": f"c-{port}",
            "from": "+15551230000",
        }
        _request(port, "POST", "/v1/events", token, json.dumps(event).encode())
        assert _request(port, "GET", f"/v1/calls/c-{port}", token)["queue"] == "general"
        rules.write_text(rules.read_text().replace("queue: general", "queue: billing"))
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while _request(port, "GET", f"/v1/calls/c-{port}", token)["queue"] != "billing":
            assert time.monotonic() < deadline, "SIGHUP did not re-route the waiting call"
            time.sleep(0.1)
        rules.write_text("rules: [\n")  # broken: the server must keep going
        process.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert process.poll() is None
        assert _request(port, "GET", f"/v1/calls/c-{port}", token)["queue"] == "billing"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0


def test_sentiment_scores_stdin_lines_as_json() -> None:
    lines = "i have been on hold for an hour\nyeah\nthank you that was really helpful\n"
    done = subprocess.run(
        [*CLI, "sentiment"], input=lines, env=_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["label"] for r in results] == ["negative", "neutral", "positive"]
    assert all(-1 <= r["score"] <= 1 for r in results)
    assert "on hold for an hour" in results[0]["cues"]


def test_serve_does_not_load_the_simulator() -> None:
    code = (
        "import sys, callcenter.cli; "
        "print([m for m in sys.modules if m.startswith('callcenter.simulate')])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
