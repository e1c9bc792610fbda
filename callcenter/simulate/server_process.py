"""The one way to run a server child process from async code (the demo, the Erlang check,
the tests, the benches): started in its own session, so that a terminal's Ctrl-C reaches it
only through its owner, which can first finish what it does against it; up once
`GET /readyz` answers 200 (with `serve --dev`, its admin token read from what it prints
first); stopped gracefully on exit (SIGTERM: the server stops its embedded Redis too),
SIGKILL if it hangs. server_process_sync.py is the blocking flavour."""

from __future__ import annotations

import asyncio
import secrets
import signal
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from callcenter.simulate.server_command import (
    POLL_SECONDS,
    PROBE_SECONDS,
    START_SECONDS,
    STOP_SECONDS,
    ServerFailed,
    ServerSpec,
    answered_ok,
    free_port,
    output_tail,
    serve,
    token_in,
)

__all__ = [
    "RunningServer",
    "ServerFailed",
    "ServerSpec",
    "TwilioAccount",
    "free_port",
    "running_server",
    "serve",
    "server_process",
]


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
    admin_token: str  # "" unless it printed one (`serve --dev`)
    process: asyncio.subprocess.Process


def _ignore(line: str) -> None:
    pass


@asynccontextmanager
async def running_server(
    spec: ServerSpec,
    *,
    output: IO[bytes] | None = None,
    say: Callable[[str], None] = _ignore,
    stop: asyncio.Event | None = None,
) -> AsyncIterator[RunningServer]:
    """Start `spec`; yield once it is up; stop it on exit. Its stderr, and its stdout
    unless it prints a token, go to `output` when given, else to ours; the stdout lines of
    a server that prints a token, other than the token's, go to `say`.

    Raises ServerFailed if it exits, or is not up within 90 s, or `stop` is set while it
    has not printed its token yet."""
    process = await asyncio.create_subprocess_exec(
        *spec.command,
        env=dict(spec.environ) if spec.environ is not None else None,
        cwd=spec.cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE if spec.prints_token else output,
        stderr=output,
        start_new_session=True,
    )
    forwarding: asyncio.Task[None] | None = None
    try:
        token = ""
        if spec.prints_token:
            token = await _admin_token(process, say, stop)
            forwarding = asyncio.create_task(_forward(process, say))
        await _until_ready(spec, process, output)
        yield RunningServer(spec.url, token, process)
    finally:
        await _stop(process, say, spec.name)
        if forwarding is not None:
            forwarding.cancel()
            await asyncio.gather(forwarding, return_exceptions=True)


# every simulated chat customer comes from 127.0.0.1: the server's new-chats-per-address
# limit would otherwise refuse all but the first few each minute
SIMULATED_CUSTOMERS = {"CALLCENTER_CHAT_SESSIONS_PER_MINUTE": "100000"}


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
    """`callcenter serve --dev` on 127.0.0.1:`port`, run as `running_server` runs it: its
    output lines go to `say`, its log (stderr) to `log` when given, else to ours.

    Raises ServerFailed if it exits, prints no token or is not up within 90 s."""
    environ = {**SIMULATED_CUSTOMERS, **environ}
    spec = serve(port, dev=True, rules_dir=rules_dir, data_dir=data_dir, environ=environ)
    async with running_server(spec, output=log, say=say, stop=stop) as server:
        yield server


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
            token = token_in(text)
            if token is not None:
                return token
            say(text)
    finally:
        stopping.cancel()


async def _answers(spec: ServerSpec) -> bool:
    """One readiness request: whether the server answers it with 200."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", spec.port)
    except OSError:
        return False
    try:
        writer.write(spec.probe())
        async with asyncio.timeout(PROBE_SECONDS):
            status_line = await reader.readline()
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
        with suppress(OSError):
            await writer.wait_closed()
    return answered_ok(status_line)


async def _until_ready(
    spec: ServerSpec, process: asyncio.subprocess.Process, output: IO[bytes] | None
) -> None:
    """The token is printed while the app starts; the port opens a moment later, and the
    server is ready once its Redis answers."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_SECONDS
    while not await _answers(spec):
        if process.returncode is not None:
            reason = f"{spec.name} exited with code {process.returncode}"
            raise ServerFailed(reason + output_tail(output))
        if loop.time() > deadline:
            reason = f"{spec.name} did not answer GET {spec.ready_path} within {START_SECONDS:g} s"
            raise ServerFailed(reason + output_tail(output))
        await asyncio.sleep(POLL_SECONDS)


async def _forward(process: asyncio.subprocess.Process, say: Callable[[str], None]) -> None:
    assert process.stdout is not None
    while line := await process.stdout.readline():
        say(line.decode(errors="replace").rstrip())


async def _stop(process: asyncio.subprocess.Process, say: Callable[[str], None], name: str) -> None:
    """SIGTERM (graceful: the server stops its Redis), SIGKILL if it hangs."""
    if process.returncode is not None:
        return
    with suppress(ProcessLookupError):
        process.send_signal(signal.SIGCONT)  # a stopped (SIGSTOP) process would hold SIGTERM
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), STOP_SECONDS)
    except TimeoutError:
        say(f"{name} did not stop within {STOP_SECONDS:g} s: killing it")
        with suppress(ProcessLookupError):
            process.kill()
        await process.wait()
