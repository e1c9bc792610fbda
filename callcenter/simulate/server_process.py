"""A `callcenter serve --dev` child process for the demo, the end-to-end tests and the
Erlang benchmark: started with the settings a simulation needs, its admin token read from
what it prints, stopped gracefully (SIGTERM: it stops its embedded Redis too).

It runs in its own session, so a terminal's Ctrl-C reaches it only through its owner,
which can first finish the simulation against it."""

from __future__ import annotations

import asyncio
import secrets
import signal
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from callcenter.errors import CallcenterError
from callcenter.storage.embedded import free_port

TOKEN_LINE = "dev mode: admin token"  # what `serve --dev` prints (callcenter/app.py)
START_SECONDS = 90.0
STOP_SECONDS = 20.0


class ServerFailed(CallcenterError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True, slots=True)
class TwilioAccount:
    """The credentials the simulated Twilio and the server share, and where the
    simulator's Twilio REST API listens."""

    account_sid: str
    auth_token: str
    api_port: int

    @classmethod
    def fresh(cls) -> TwilioAccount:
        return cls("AC" + secrets.token_hex(16), secrets.token_hex(16), free_port())

    def environment(self) -> dict[str, str]:
        return {
            "CALLCENTER_TWILIO_ACCOUNT_SID": self.account_sid,
            "CALLCENTER_TWILIO_AUTH_TOKEN": self.auth_token,
            "CALLCENTER_TWILIO_API_URL": f"http://127.0.0.1:{self.api_port}",
        }


@dataclass(frozen=True, slots=True)
class RunningServer:
    url: str
    admin_token: str
    process: asyncio.subprocess.Process


@asynccontextmanager
async def server_process(
    *,
    port: int,
    rules_dir: Path,
    environ: Mapping[str, str],
    say: Callable[[str], None],
    data_dir: Path | None = None,
    stop: asyncio.Event | None = None,
    log: IO[bytes] | None = None,
) -> AsyncIterator[RunningServer]:
    """Start `python -m callcenter serve --dev` on 127.0.0.1:`port`; yield once it has
    printed its admin token and accepts connections; stop it on exit. Its output lines go
    to `say`; its log (stderr) to `log` when given, else to ours.

    Raises ServerFailed if it exits or prints no token within 90 s."""
    arguments = ["--port", str(port), "--rules-dir", str(rules_dir)]
    if data_dir is not None:
        arguments += ["--data-dir", str(data_dir)]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "callcenter",
        "serve",
        "--dev",
        *arguments,
        env=dict(environ),
        stdout=asyncio.subprocess.PIPE,
        stderr=log,
        start_new_session=True,
    )
    forwarding: asyncio.Task[None] | None = None
    try:
        token = await _admin_token(process, say, stop)
        forwarding = asyncio.create_task(_forward(process, say))
        await _listening(port, process)
        yield RunningServer(f"http://127.0.0.1:{port}", token, process)
    finally:
        await _stop(process, say)
        if forwarding is not None:
            forwarding.cancel()


async def _admin_token(
    process: asyncio.subprocess.Process, say: Callable[[str], None], stop: asyncio.Event | None
) -> str:
    assert process.stdout is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_SECONDS
    stopping = asyncio.ensure_future((stop or asyncio.Event()).wait())
    try:
        while True:
            reading = asyncio.ensure_future(process.stdout.readline())
            await asyncio.wait(
                {reading, stopping},
                timeout=max(0.0, deadline - loop.time()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not reading.done():
                reading.cancel()
                if stopping.done():
                    raise ServerFailed("stopped before the server was up")
                raise ServerFailed(f"the server printed no token within {START_SECONDS:g} s")
            line = reading.result()
            if not line:
                code = await process.wait()
                raise ServerFailed(f"the server exited with code {code} (its messages are above)")
            text = line.decode(errors="replace").rstrip()
            if text.startswith(TOKEN_LINE):
                return text.rsplit(" ", 1)[-1]
            say(text)
    finally:
        stopping.cancel()


async def _listening(port: int, process: asyncio.subprocess.Process) -> None:
    """The token is printed while the app starts; the port opens a moment later."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_SECONDS
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if process.returncode is not None or loop.time() > deadline:
                raise ServerFailed(f"the server does not listen on port {port}") from None
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return


async def _forward(process: asyncio.subprocess.Process, say: Callable[[str], None]) -> None:
    assert process.stdout is not None
    while line := await process.stdout.readline():
        say(line.decode(errors="replace").rstrip())


async def _stop(process: asyncio.subprocess.Process, say: Callable[[str], None]) -> None:
    """SIGTERM (graceful: the server stops its Redis), SIGKILL if it hangs."""
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), STOP_SECONDS)
    except TimeoutError:
        say(f"the server did not stop within {STOP_SECONDS:g} s: killing it")
        process.kill()
        await process.wait()
