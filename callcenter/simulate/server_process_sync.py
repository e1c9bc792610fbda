"""The blocking flavour of server_process.py, for synchronous tests: the same server child
process (own session, up once `GET /readyz` answers 200, the `serve --dev` token read,
SIGTERM then SIGKILL on exit), run with `subprocess`."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import IO

from callcenter.simulate.server_command import (
    POLL_SECONDS,
    PROBE_SECONDS,
    START_SECONDS,
    STOP_SECONDS,
    ServerFailed,
    ServerSpec,
    answered_ok,
    output_tail,
    token_in,
)


@dataclass(frozen=True, slots=True)
class RunningServerSync:
    url: str
    admin_token: str  # "" unless it printed one (`serve --dev`)
    process: subprocess.Popen[bytes]


@contextmanager
def running_server_sync(
    spec: ServerSpec, *, output: IO[bytes] | None = None
) -> Iterator[RunningServerSync]:
    """Start `spec`; yield once it is up; stop it on exit (if it is still running). Its
    stderr, and its stdout unless it prints a token, go to `output` when given, else to
    ours.

    Raises ServerFailed if it exits or is not up within 90 s."""
    with subprocess.Popen(
        spec.command,
        env=dict(spec.environ) if spec.environ is not None else None,
        cwd=spec.cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if spec.prints_token else output,
        stderr=output,
        start_new_session=True,
    ) as process:
        try:
            _until_ready(spec, process, output)
            token = _admin_token(spec, process) if spec.prints_token else ""
            yield RunningServerSync(spec.url, token, process)
        finally:
            _stop(process)


def _answers(spec: ServerSpec) -> bool:
    """One readiness request: whether the server answers it with 200."""
    try:
        with socket.create_connection(("127.0.0.1", spec.port), timeout=PROBE_SECONDS) as sock:
            sock.sendall(spec.probe())
            with sock.makefile("rb") as answer:
                return answered_ok(answer.readline(256))
    except OSError:
        return False


def _until_ready(
    spec: ServerSpec, process: subprocess.Popen[bytes], output: IO[bytes] | None
) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not _answers(spec):
        if process.poll() is not None:
            reason = f"{spec.name} exited with code {process.returncode}"
            raise ServerFailed(reason + output_tail(output))
        if time.monotonic() > deadline:
            reason = f"{spec.name} did not answer GET {spec.ready_path} within {START_SECONDS:g} s"
            raise ServerFailed(reason + output_tail(output))
        time.sleep(POLL_SECONDS)


def _admin_token(spec: ServerSpec, process: subprocess.Popen[bytes]) -> str:
    """The token line is already there: the server prints it before it listens."""
    assert process.stdout is not None
    for line in process.stdout:
        token = token_in(line.decode(errors="replace").rstrip())
        if token is not None:
            return token
    raise ServerFailed(f"{spec.name} exited without printing its admin token")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (graceful: the server stops its Redis), SIGKILL if it hangs."""
    if process.poll() is not None:
        return
    with suppress(ProcessLookupError):
        process.send_signal(signal.SIGCONT)  # a stopped (SIGSTOP) process would hold SIGTERM
        process.terminate()
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
