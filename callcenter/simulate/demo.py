"""`callcenter demo`: a server (with its embedded Redis) as a child process, configured to
take the simulator's Twilio traffic and transcribe it, then the demo scenario against it;
prints where to watch (wallboard and agent desktop, with tokens in the URL fragment).

Ctrl-C stops the simulator (calls in progress are hung up, the summary printed), then the
server, which stops its Redis: nothing is left running. The server runs in its own
session so that the terminal's Ctrl-C reaches it only through us, in that order."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

from callcenter.errors import CallcenterError
from callcenter.settings import Settings, load_settings
from callcenter.simulate.api import ServerApi
from callcenter.simulate.command import (
    ProgressPrinter,
    load,
    print_result,
    run_with_interrupts,
)
from callcenter.simulate.runner import RunOptions, RunResult, Simulation
from callcenter.simulate.scenario import Scenario
from callcenter.simulate.server_cli import english_vosk_model
from callcenter.simulate.server_process import TwilioAccount, server_process

VOSK_EN = "vosk-model-small-en-us-0.15"


class DemoFailed(CallcenterError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def speech_choice(
    settings: Settings, environ: dict[str, str], speech: bool
) -> tuple[dict[str, str], str]:
    """The server's speech settings for the demo and a line saying what was chosen: the
    engine the environment names, else an English Vosk model if one was pulled, else the
    bundled PocketSphinx model."""
    if not speech:
        return {"CALLCENTER_SPEECH_ENGINE": "off"}, "speech: off (callers are silent)"
    if "CALLCENTER_SPEECH_ENGINE" in environ:
        return {}, f"speech: {settings.speech_engine} (from CALLCENTER_SPEECH_ENGINE)"
    english = english_vosk_model(settings.models_dir)
    if english is not None:
        return (
            {"CALLCENTER_SPEECH_ENGINE": "vosk", "CALLCENTER_VOSK_MODEL": english},
            f"speech: Vosk, model {english}",
        )
    return (
        {"CALLCENTER_SPEECH_ENGINE": "pocketsphinx"},
        "speech: PocketSphinx with its bundled English model (no Vosk English model in "
        f"{settings.models_dir}; `callcenter models pull {VOSK_EN}` upgrades it)",
    )


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def run_demo(name: str, *, port: int | None, data_dir: Path | None, speech: bool) -> int:
    """Raises CallcenterError (bad scenario, port in use, the server did not start)."""
    scenario = load(name)
    if scenario.rules_dir is None:
        raise DemoFailed(f"{scenario.path}: the demo needs a scenario with `rules:`")
    environ = dict(os.environ)
    settings = load_settings(environ)
    port = port or settings.port
    if _port_taken(port):
        raise DemoFailed(f"port {port} is in use: stop what listens there or pass --port")
    printer = ProgressPrinter(sys.stderr)
    demo = _Demo(scenario, settings, environ, port, data_dir or settings.data_dir / "demo", speech)
    result: RunResult | None
    try:
        result = asyncio.run(run_with_interrupts(demo.run, printer.say))
    except asyncio.CancelledError:
        result = demo.partial()
    finally:
        printer.end()
    return print_result(result, sys.stdout) if result is not None else 130


class _Demo:
    def __init__(
        self,
        scenario: Scenario,
        settings: Settings,
        environ: dict[str, str],
        port: int,
        data_dir: Path,
        speech: bool,
    ) -> None:
        self._scenario = scenario
        self._port = port
        self._url = f"http://127.0.0.1:{port}"
        self._twilio = TwilioAccount.fresh()
        chosen, self._speech_line = speech_choice(settings, environ, speech)
        self._speech = speech
        self._env = {
            **environ,
            "CALLCENTER_LOG_LEVEL": environ.get("CALLCENTER_LOG_LEVEL", "WARNING"),
            "CALLCENTER_PUBLIC_URL": self._url,
            **self._twilio.environment(),
            **chosen,
        }
        self._data_dir = data_dir
        self._printer = ProgressPrinter(sys.stderr)
        self._simulation: Simulation | None = None

    def partial(self) -> RunResult | None:
        if self._simulation is None:
            return None
        return RunResult(
            self._scenario,
            self._simulation.ledger,
            interrupted=True,
            elapsed=self._printer.elapsed,
        )

    async def run(self, stop: asyncio.Event) -> RunResult:
        assert self._scenario.rules_dir is not None
        say = self._printer.say
        say(f"starting the server on {self._url} ({self._speech_line})")
        try:
            async with server_process(
                port=self._port,
                rules_dir=self._scenario.rules_dir,
                environ=self._env,
                say=say,
                data_dir=self._data_dir,
                stop=stop,
            ) as server:
                options = RunOptions(
                    server_url=server.url,
                    token=server.admin_token,
                    public_url=self._url,
                    twilio_account_sid=self._twilio.account_sid,
                    twilio_auth_token=self._twilio.auth_token,
                    twilio_api_port=self._twilio.api_port,
                    speech=self._speech,
                )
                self._simulation = Simulation(
                    self._scenario,
                    options,
                    report=say,
                    progress=self._printer,
                    on_ready=lambda sim, api: self._show_pages(sim, api, server.admin_token),
                )
                result = await self._simulation.run(stop)
                self._printer.end()
                say("stopping the server")
                return result
        finally:
            self._printer.end()

    async def _show_pages(self, simulation: Simulation, api: ServerApi, admin: str) -> None:
        supervisor = await api.issue_token("supervisor", "demo wallboard")
        first = self._scenario.roster[0]
        agent_token = simulation.agent_tokens[first.id]
        lines = [
            "",
            f"callcenter demo: {self._scenario.description or self._scenario.name}",
            f"  wallboard      {self._url}/wallboard#token={supervisor}",
            f"  agent desktop  {self._url}/agent#token={agent_token}   "
            f"({first.name}; a bot answers for them)",
            f"  API            {self._url}/v1/docs   admin token {admin}",
            f"  {self._speech_line}",
            *self._text_lines(),
            "Ctrl-C stops the callers and agents, prints the summary, then stops the server.",
            "",
        ]
        self._printer.say("\n".join(lines))

    def _text_lines(self) -> list[str]:
        """What the demo's text customers do, if it has any."""
        text = self._scenario.text
        if text is None:
            return []
        channels = ", ".join(
            f"{c.channel} in {c.queue}"
            + (f" ({c.per_second * 60:g} a minute)" if c.per_second else "")
            for c in text.channels.values()
        )
        return [
            f"  text           {channels}: chat customers write in the chat widget's way "
            "(/ws/chat), SMS and email through /v1/tasks; agent bots hold a few at once (the "
            "wallboard shows their mood and alerts)"
        ]
