"""`callcenter simulate`: load a scenario (a file, or a shipped one by name), run it against
a server with a live progress line, print the summary. Ctrl-C (or SIGTERM) stops placing
calls, hangs up the calls in progress and prints the partial summary; a second one quits.

Exit status: 0 the run was clean, 1 it found routing errors or counts that differ, 130
stopped early; errors that prevent a run are raised (the CLI prints them in one line)."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TextIO, TypeVar
from urllib.parse import urlsplit

from callcenter.errors import CallcenterError
from callcenter.settings import load_settings
from callcenter.simulate.ledger import Ledger
from callcenter.simulate.report import progress_line, summary_of
from callcenter.simulate.report_texts import describe_texts
from callcenter.simulate.run_result import DEFAULT_ACCOUNT_SID, RunOptions, RunResult
from callcenter.simulate.runner import Simulation
from callcenter.simulate.scenario import Poisson, Scenario, ScenarioInvalid
from callcenter.simulate.scenario_loader import load_scenario

DEFAULT_ARI_PORT = 8088
T = TypeVar("T")
PROGRESS_LINE_SECONDS = 10.0  # when stderr is not a terminal


def shipped_scenarios() -> list[str]:
    folder = resources.files("callcenter.simulate").joinpath("scenarios")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def scenario_path(name_or_path: str) -> Path:
    """A file path as given, or the shipped scenario of that name (demo, erlang, ...).

    Raises ScenarioInvalid when it is neither."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    shipped = resources.files("callcenter.simulate").joinpath("scenarios", f"{name_or_path}.yaml")
    if shipped.is_file():
        return Path(str(shipped))
    raise ScenarioInvalid(
        [
            f"{name_or_path}: no such scenario file or shipped scenario "
            f"(shipped: {', '.join(shipped_scenarios())})"
        ]
    )


def load(name_or_path: str) -> Scenario:
    return load_scenario(scenario_path(name_or_path))


class ProgressPrinter:
    """The progress line on `stream`: redrawn in place on a terminal, else one line every
    10 s."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._last = -PROGRESS_LINE_SECONDS
        self._open = False
        self.elapsed = 0.0  # of the run, as last shown

    def __call__(self, elapsed: float, ledger: Ledger) -> None:
        self.elapsed = elapsed
        line = progress_line(elapsed, ledger)
        if self._tty:
            self._stream.write(f"\r{line}\x1b[K")
            self._open = True
        elif elapsed - self._last >= PROGRESS_LINE_SECONDS:
            self._last = elapsed
            self._stream.write(line + "\n")
        self._stream.flush()

    def say(self, line: str) -> None:
        self.end()
        self._stream.write(line + "\n")
        self._stream.flush()

    def end(self) -> None:
        if self._open:
            self._stream.write("\n")
            self._open = False


@dataclass(frozen=True, slots=True)
class Interrupts:
    """SIGINT/SIGTERM: the first sets `stop`, the second cancels the run."""

    stop: asyncio.Event
    say: Callable[[str], None]

    def install(self, main: asyncio.Task[T]) -> Callable[[], None]:
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if self.stop.is_set():
                main.cancel()
                return
            self.stop.set()
            self.say("stopping: hanging up the calls in progress (Ctrl-C again to quit now)")

        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, on_signal)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass

        def remove() -> None:
            for sig in installed:
                loop.remove_signal_handler(sig)

        return remove


async def run_with_interrupts(
    work: Callable[[asyncio.Event], Awaitable[T]], say: Callable[[str], None]
) -> T:
    """Run `work(stop)` with Ctrl-C wired to `stop` (then to cancellation)."""
    stop = asyncio.Event()

    async def main() -> T:
        return await work(stop)

    task = asyncio.ensure_future(main())
    remove = Interrupts(stop, say).install(task)
    try:
        return await task
    finally:
        remove()


def print_result(result: RunResult, out: TextIO) -> int:
    lines = summary_of(result)
    if result.unfinished:
        lines.append(f"calls that never ended: {len(result.unfinished)}")
    if result.open_texts:
        lines.append(f"text conversations never closed: {len(result.open_texts)}")
    out.write("\n".join(lines) + "\n")
    out.flush()
    if result.interrupted:
        return 130
    return 0 if result.ok else 1


def simulate(scenario: Scenario, options: RunOptions, *, err: TextIO | None = None) -> int:
    """Run `scenario` in a new event loop; print progress on `err` (stderr), the summary on
    stdout."""
    printer = ProgressPrinter(err or sys.stderr)
    description = f" ({scenario.description})" if scenario.description else ""
    printer.say(
        f"simulating {scenario.name}{description} against {options.server_url} "
        f"as a {scenario.gateway} gateway, seed {scenario.seed}"
    )
    if scenario.gateway == "freeswitch":
        printer.say(
            f"event socket here: {options.esl_host}:{options.esl_port} (the server's "
            "CALLCENTER_FREESWITCH_ESL_HOST / _PORT); callers stay silent"
        )
    if scenario.gateway == "asterisk":
        printer.say(
            f"ARI here: http://{options.ari_host}:{options.ari_port} (the server's "
            "CALLCENTER_ASTERISK_ARI_URL); callers stay silent"
        )
    if scenario.gateway == "twilio":
        printer.say(
            f"Twilio's REST API here: http://{options.twilio_api_host}:{options.twilio_api_port}"
            " (the server's CALLCENTER_TWILIO_API_URL)"
        )
    simulation = Simulation(scenario, options, report=printer.say, progress=printer)
    try:
        result = asyncio.run(run_with_interrupts(simulation.run, printer.say))
    except asyncio.CancelledError:
        # quit at once: what the ledger holds so far, unchecked
        result = RunResult(scenario, simulation.ledger, interrupted=True)
    except CallcenterError:
        printer.end()
        if simulation.ledger.placed():  # lost the server mid-run: what we saw until then
            print_result(RunResult(scenario, simulation.ledger, interrupted=True), sys.stdout)
        raise
    finally:
        printer.end()
    return print_result(result, sys.stdout)


def options_from(
    *,
    server: str | None,
    token: str,
    public_url: str | None,
    twilio_api_port: int,
    speech: bool,
    drain_seconds: float,
    connect_timeout: float,
    ari_port: int | None = None,
    esl_port: int | None = None,
    environ: dict[str, str] | None = None,
) -> RunOptions:
    """Run options: flags first, then the server's own CALLCENTER_* settings (so one shell
    environment serves both the server and the simulator)."""
    settings = load_settings(environ)
    return RunOptions(
        server_url=(server or f"http://127.0.0.1:{settings.port}").rstrip("/"),
        token=token,
        public_url=public_url or settings.public_url,
        twilio_account_sid=settings.twilio_account_sid or DEFAULT_ACCOUNT_SID,
        twilio_auth_token=settings.twilio_auth_token.reveal(),
        twilio_api_port=twilio_api_port,
        ari_port=ari_port or urlsplit(settings.asterisk_ari_url).port or DEFAULT_ARI_PORT,
        ari_app=settings.asterisk_app,
        ari_user=settings.asterisk_ari_user,
        ari_password=settings.asterisk_ari_password.reveal(),
        esl_port=esl_port or settings.freeswitch_esl_port,
        esl_password=settings.freeswitch_esl_password.reveal(),
        webhook_secret=settings.webhook_secret.reveal(),
        speech=speech,
        drain_seconds=drain_seconds,
        connect_timeout_seconds=connect_timeout,
    )


def adjusted(
    scenario: Scenario,
    *,
    seed: int | None,
    duration: float | None,
    gateway: str | None,
    per_minute: float | None,
    occupancy: float | None,
) -> Scenario:
    """The scenario with the command line's overrides."""
    if seed is not None:
        scenario = dataclasses.replace(scenario, seed=seed)
    if duration is not None:
        scenario = dataclasses.replace(scenario, duration_seconds=duration)
    if gateway is not None:
        scenario = dataclasses.replace(scenario, gateway=gateway)
    if per_minute is not None:
        scenario = scenario.with_load(per_second=per_minute / 60)
    if occupancy is not None:
        scenario = scenario.with_load(occupancy=occupancy)
    return scenario


def describe(scenario: Scenario) -> str:
    """One line on what a checked scenario will do."""
    arrivals = scenario.arrivals
    if isinstance(arrivals, Poisson):
        rate = f"Poisson, {arrivals.per_second * scenario.voice_share * 60:.3g} calls a minute"
        if arrivals.occupancy is not None:
            rate += f" (occupancy {arrivals.occupancy:g})"
    else:
        rate = f"trace {arrivals.path.name}, {len(arrivals.calls)} calls"
    length = f"{scenario.duration_seconds:g} s" if scenario.duration_seconds else "until stopped"
    if scenario.text is not None:
        rate += ", " + describe_texts(scenario)
    return (
        f"{scenario.path}: ok, {scenario.gateway} gateway, {rate}, {len(scenario.queues)} "
        f"queues, {len(scenario.roster)} agents, {length}, seed {scenario.seed}"
    )
