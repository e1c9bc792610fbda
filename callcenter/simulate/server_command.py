"""What a server child process is: its command line (`callcenter serve ...`, or any HTTP
server's), its port and environment, and how to tell it is up. Shared by the two ways to
run one: server_process.py (async) and server_process_sync.py (blocking)."""

from __future__ import annotations

import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from callcenter.errors import CallcenterError

CALLCENTER = (sys.executable, "-m", "callcenter")  # the server's command line, ours to run
TOKEN_LINE = "dev mode: admin token"  # what `serve --dev` prints first (callcenter/app.py)
START_SECONDS = 90.0
STOP_SECONDS = 20.0
POLL_SECONDS = 0.05
PROBE_SECONDS = 2.0  # one readiness request
TAIL_CHARS = 4000  # of its output, in a failure message


class ServerFailed(CallcenterError):
    """A server child process that exited, or was not up in time."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSpec:
    """A server child process: what to run, and where it answers once it is up."""

    command: tuple[str, ...]
    port: int  # on 127.0.0.1
    environ: Mapping[str, str] | None = None  # None: ours
    cwd: Path | None = None
    ready_path: str = "/readyz"  # up once a GET answers 200
    prints_token: bool = False  # `serve --dev`: its admin token comes first on stdout
    name: str = "the server"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def probe(self) -> bytes:
        """The readiness request: HTTP/1.0, so the server answers once and closes."""
        return f"GET {self.ready_path} HTTP/1.0\r\nHost: 127.0.0.1:{self.port}\r\n\r\n".encode()


def serve(
    port: int,
    *,
    dev: bool = False,
    host: str | None = None,
    redis_url: str | None = None,
    rules_dir: Path | None = None,
    data_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    name: str = "the server",
) -> ServerSpec:
    """`callcenter serve --port PORT` with the flags given (the rest of its settings come
    from `environ`, CALLCENTER_*); `dev` adds `--dev`, whose admin token is then read."""
    command = [*CALLCENTER, "serve", "--port", str(port)]
    flags = {
        "--host": host,
        "--redis-url": redis_url,
        "--rules-dir": rules_dir,
        "--data-dir": data_dir,
    }
    for flag, value in flags.items():
        if value is not None:
            command += [flag, str(value)]
    if dev:
        command.append("--dev")
    return ServerSpec(
        command=tuple(command),
        port=port,
        environ=environ,
        cwd=cwd,
        prints_token=dev,
        name=name,
    )


def answered_ok(status_line: bytes) -> bool:
    """Whether an HTTP status line (`HTTP/1.1 200 OK`) says 200."""
    parts = status_line.split()
    return len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1] == b"200"


def token_in(line: str) -> str | None:
    """The admin token of `serve --dev`'s token line; None for any other line."""
    return line.rsplit(" ", 1)[-1] if line.startswith(TOKEN_LINE) else None


def output_tail(output: IO[bytes] | None) -> str:
    """The end of the file a child's output went to, to add to a failure message; '' when
    its output went elsewhere (ours, a pipe) or the file is empty."""
    name = getattr(output, "name", None)
    if not isinstance(name, str):
        return ""
    try:
        text = Path(name).read_text(errors="replace")
    except OSError:
        return ""
    return f"\n--- its output ({name}) ---\n{text[-TAIL_CHARS:]}" if text else ""
