"""`callcenter simulate` and `callcenter demo` from the outside: one-line errors, retries
against a server that is not there, and the demo stopped with Ctrl-C: the partial summary,
then the server and its Redis gone."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from callcenter.cli import main
from callcenter.storage.embedded import free_port
from tests.simulate.conftest import SCENARIOS

PLACED = re.compile(r"\| placed (\d+) \|")


def test_check_reports_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: 1\narrivals:\n  poisson: {per_minute: fast}\n")
    assert main(["simulate", str(bad), "--check"]) == 2
    assert f"callcenter: {bad}:3: Expected `float | null`, got `str`" in capsys.readouterr().err
    assert main(["simulate", "demo", "--check"]) == 0
    assert "demo.yaml: ok, twilio gateway, Poisson, 5 calls a minute" in capsys.readouterr().out
    assert main(["simulate", "demo"]) == 2
    assert "simulate needs --token" in capsys.readouterr().err


def test_an_unreachable_server_is_retried_then_named(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    began = time.monotonic()
    code = main(
        [
            "simulate",
            "demo",
            "--token",
            "x",
            "--server",
            url,
            "--connect-timeout",
            "2",
            "--no-speech",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert time.monotonic() - began < 10
    retries = [line for line in err.splitlines() if "not ready (cannot connect" in line]
    assert (
        len(retries) >= 3
        and "retrying in 0.2 s" in retries[0]
        and "retrying in 0.5 s" in retries[1]
    )
    reason = "(tried for 2 s: cannot connect: Connection refused)"
    assert f"callcenter: cannot reach the server at {url} {reason}" in err
    assert "start it with `callcenter serve --dev` or pass --server URL" in err


def _ours(marker: str) -> list[int]:
    """Processes whose command line or working directory mentions `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if marker in command or cwd.startswith(marker):
            found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_demo_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    data = tmp_path / "demo-data"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    demo = subprocess.Popen(
        [
            sys.executable, "-m", "callcenter", "demo", "--port", str(free_port()),
            "--data-dir", str(data), "--scenario", str(SCENARIOS / "endless.yaml"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environ,
        text=True,
    )  # fmt: skip
    assert demo.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + 90
    while not any((m := PLACED.search(line)) and int(m.group(1)) >= 3 for line in seen):
        assert time.monotonic() < deadline, "\n".join(seen)
        ready, _, _ = select.select([demo.stderr], [], [], 1.0)
        if ready:
            line = demo.stderr.readline()
            assert line, "\n".join(seen)
            seen.append(line.rstrip())
    assert _ours(str(data)), "the server and its Redis should be running"
    demo.send_signal(signal.SIGINT)
    out, err = demo.communicate(timeout=120)
    text = "\n".join(seen) + err
    assert demo.returncode == 130, text + out
    assert any(
        line.startswith("  wallboard      http://127.0.0.1:") and "#token=cc_" in line
        for line in seen
    )
    assert any(
        line.startswith("  agent desktop  http://127.0.0.1:") and "/agent#token=cc_" in line
        for line in seen
    )
    assert "speech: PocketSphinx with its bundled English model" in text
    assert "stopping: hanging up the calls in progress" in err
    assert "STOPPED EARLY, partial figures" in out
    # the server was still there for the last look at its documents and metrics
    assert "routing errors: 0" in out and "server metrics: all" in out, out
    assert "calls that never ended" not in out
    assert _ours(str(data)) == []
