"""The `callcenter` command: `serve`, `tokens create | list | revoke`, `rules check`,
`sentiment`, `models list | pull | verify` (Vosk speech models), and `simulate` and `demo`
(simulated gateway traffic and agents; see callcenter/simulate/).

Parses arguments, configures logging and runs; errors become one line on stderr and exit 2."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TextIO

import msgspec
from aiohttp import web

from callcenter.app import create_app
from callcenter.domain.auth import parse_role
from callcenter.errors import CallcenterError, RulesInvalid
from callcenter.logs import configure_logging
from callcenter.rules.loader import load_rules
from callcenter.settings import Settings, load_settings
from callcenter.simulate import command, demo
from callcenter.speech.model_store import (
    ModelInfo,
    cached_models,
    fetch_model_list,
    find_model,
    missing_files,
    pull_model,
)
from callcenter.speech.sentiment import load_scorer
from callcenter.storage.connection import redis_client
from callcenter.storage.documents import DocumentStore
from callcenter.storage.embedded import redis_url_for
from callcenter.storage.tokens import TokenRepository
from callcenter.web.http_limits import PARSER_LIMITS, http_error_logger
from callcenter.web.state import METRICS

_SERVE_FLAGS = (
    ("host", "address to listen on (default 127.0.0.1)"),
    ("port", "port to listen on (default 8080)"),
    ("redis-url", "Redis URL; omit to run an embedded redis-server"),
    ("data-dir", "where the embedded Redis keeps its data"),
    ("rules-dir", "routing rule file or directory (default ./routing_rules)"),
    ("log-level", "DEBUG, INFO, WARNING, ERROR"),
    ("max-body-bytes", "largest accepted request body"),
    ("webhook-secret", "HMAC secret for signed generic webhooks"),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callcenter",
        description="Contact-center server. Every flag also reads CALLCENTER_<NAME>.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server")
    for flag, help_text in _SERVE_FLAGS:
        serve.add_argument(f"--{flag}", help=help_text)
    serve.add_argument("--log-json", action="store_const", const="true", help="JSON log lines")
    serve.add_argument(
        "--dev", action="store_const", const="true", help="print a ready-made admin token"
    )

    rules = commands.add_parser("rules", help="routing rule files")
    rule_actions = rules.add_subparsers(dest="action", required=True)
    check = rule_actions.add_parser("check", help="validate rule files (file:line errors)")
    check.add_argument(
        "paths",
        nargs="*",
        type=Path,
        default=[Path("routing_rules")],
        help="rule files or directories (default: routing_rules)",
    )

    sentiment = commands.add_parser(
        "sentiment", help="score utterances from stdin, one JSON line each on stdout"
    )
    sentiment.add_argument("--lexicon", type=Path, help="a contact-center lexicon YAML file")
    sentiment.add_argument(
        "--no-model", action="store_true", help="lexicon and VADER only, no trained model"
    )

    _add_models_parser(commands)
    _add_simulate_parsers(commands)

    tokens = commands.add_parser("tokens", help="issue, list and revoke API tokens")
    tokens.add_argument("--redis-url", help="Redis URL; omit to use the embedded Redis")
    tokens.add_argument("--data-dir", help="data directory of the embedded Redis")
    actions = tokens.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="issue a token (printed once)")
    create.add_argument("--role", required=True, help="admin, supervisor, gateway or agent:<id>")
    create.add_argument("--label", default="", help="what the token is for")
    create.add_argument("--ttl-days", type=float, help="expire after this many days")
    actions.add_parser("list", help="list tokens (never their secrets)")
    revoke = actions.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("token_id")
    return parser


def _add_models_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = commands.add_parser("models", help="Vosk speech models: list, pull, verify")
    models.add_argument(
        "--models-dir", help="where pulled models go (default ~/.cache/callcenter/models)"
    )
    models.add_argument("--model-list-url", help="the model list (default: the official one)")
    actions = models.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="models in the list: language, size, installed")
    listing.add_argument("--lang", help="only this language: en-us, or en for every English")
    listing.add_argument("--all", action="store_true", help="include obsolete models")
    pull = actions.add_parser("pull", help="download a model into the models directory")
    pull.add_argument("name", help="a model name from `callcenter models list`")
    verify = actions.add_parser("verify", help="check that a directory holds a Vosk model")
    verify.add_argument("path", type=Path)


def _add_simulate_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    simulate = commands.add_parser(
        "simulate", help="act as a gateway and as agents against a running server"
    )
    simulate.add_argument(
        "scenario",
        nargs="?",
        default="demo",
        help="a scenario file, or a shipped one: demo, erlang",
    )
    simulate.add_argument("--token", help="an admin token of the server (required to run)")
    simulate.add_argument(
        "--server", help="the server's URL (default http://127.0.0.1:$CALLCENTER_PORT)"
    )
    simulate.add_argument(
        "--check", action="store_true", help="only check the scenario file (file:line errors)"
    )
    simulate.add_argument("--gateway", choices=["twilio", "generic"], help="override the dialect")
    simulate.add_argument("--seed", type=int, help="override the scenario's seed")
    simulate.add_argument("--duration", type=float, help="seconds of arrivals (default: scenario)")
    load = simulate.add_mutually_exclusive_group()
    load.add_argument("--per-minute", type=float, help="Poisson arrivals at this rate instead")
    load.add_argument("--occupancy", type=float, help="Poisson arrivals keeping agents this busy")
    _add_run_flags(simulate)

    demo = commands.add_parser(
        "demo", help="run a server (embedded Redis) and the simulator at a gentle load"
    )
    demo.add_argument("--scenario", default="demo", help="scenario file or shipped name")
    demo.add_argument("--port", type=int, help="server port (default $CALLCENTER_PORT or 8080)")
    demo.add_argument("--data-dir", type=Path, help="the demo's Redis data (default: a demo dir)")
    demo.add_argument("--no-speech", action="store_true", help="callers stay silent")


def _add_run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--public-url", help="the server's CALLCENTER_PUBLIC_URL, if set (Twilio signatures)"
    )
    parser.add_argument(
        "--twilio-api-port",
        type=int,
        default=8089,
        help="where the simulated Twilio REST API listens (the server's "
        "CALLCENTER_TWILIO_API_URL is http://127.0.0.1:PORT; default 8089)",
    )
    parser.add_argument("--no-speech", action="store_true", help="callers stay silent")
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=120.0,
        help="after the last arrival, how long calls may go on (default 120)",
    )
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=30.0,
        help="how long to retry an unreachable server (default 30)",
    )


def _simulate(args: argparse.Namespace) -> int:
    scenario = command.adjusted(
        command.load(args.scenario),
        seed=args.seed,
        duration=args.duration,
        gateway=args.gateway,
        per_minute=args.per_minute,
        occupancy=args.occupancy,
    )
    if args.check:
        print(command.describe(scenario))
        return 0
    if not args.token:
        raise CallcenterError(
            "simulate needs --token: an admin token (`callcenter serve --dev` prints one)"
        )
    options = command.options_from(
        server=args.server,
        token=args.token,
        public_url=args.public_url,
        twilio_api_port=args.twilio_api_port,
        speech=not args.no_speech,
        drain_seconds=args.drain_seconds,
        connect_timeout=args.connect_timeout,
    )
    return command.simulate(scenario, options)


def _demo(args: argparse.Namespace) -> int:
    return demo.run_demo(
        args.scenario, port=args.port, data_dir=args.data_dir, speech=not args.no_speech
    )


def _overrides(args: argparse.Namespace, names: Sequence[str]) -> dict[str, str]:
    found = {}
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            found[name] = str(value)
    return found


def new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    """uvloop when asked for (the default) and installed, else the standard loop."""
    if kind == "uvloop":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def _serve(settings: Settings) -> int:
    configure_logging(settings.log_level, as_json=settings.log_json)
    app = create_app(settings)
    # run_app turns SIGTERM and SIGINT into a graceful shutdown: stop accepting, finish
    # in-flight requests (up to shutdown_timeout), then leave cleanup_ctx in reverse.
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        loop=new_event_loop(settings.event_loop),
        print=None,
        shutdown_timeout=settings.shutdown_timeout_seconds,
        access_log=None,
        logger=http_error_logger(app[METRICS]),
        **PARSER_LIMITS,
    )
    return 0


async def _tokens(args: argparse.Namespace, settings: Settings) -> int:
    async with (
        redis_url_for(settings.redis_url, settings.data_dir / "redis") as url,
        redis_client(url) as client,
    ):
        repository = TokenRepository(DocumentStore(client))
        now = datetime.now(UTC)
        if args.action == "create":
            role = parse_role(args.role).role
            ttl = timedelta(days=args.ttl_days) if args.ttl_days else None
            if ttl is not None and ttl <= timedelta(0):
                raise CallcenterError("--ttl-days must be positive")
            token, record = await repository.create(role, args.label, now, ttl)
            print(token)
            print(
                f"id {record.id}, role {record.role}: store it now, it is not shown again",
                file=sys.stderr,
            )
        elif args.action == "list":
            for record in await repository.all():
                expires = record.expires_at.isoformat() if record.expires_at else "never"
                print(
                    f"{record.id}\t{record.role}\t{record.created_at.isoformat()}\t"
                    f"expires {expires}\t{record.label}"
                )
        elif not await repository.revoke(args.token_id):
            print(f"callcenter: no token with id {args.token_id!r}", file=sys.stderr)
            return 1
    return 0


def _check_rules(paths: list[Path]) -> int:
    failed = 0
    for path in paths:
        try:
            rules = load_rules(path)
        except RulesInvalid as error:
            failed += 1
            for problem in error.problems:
                print(problem, file=sys.stderr)
            continue
        print(
            f"{path}: ok, {len(rules.queues)} queues, {len(rules.rules)} rules, "
            f"{len(rules.alerts)} alert rules (version {rules.version})"
        )
    return 1 if failed else 0


def _sentiment(args: argparse.Namespace) -> int:
    scorer = load_scorer(args.lexicon, use_model=not args.no_model)
    out = sys.stdout.buffer
    for line in sys.stdin:
        out.write(msgspec.json.encode(scorer.score(line.strip())) + b"\n")
    out.flush()
    return 0


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1 << 20:
        return f"{size / 1024:.1f} KiB"
    if size < 1 << 30:
        return f"{size / (1 << 20):.1f} MiB"
    return f"{size / (1 << 30):.1f} GiB"


class _ProgressReport:
    """Download progress on `stream`: a bar redrawn in place on a terminal, else a line per
    5 % (per 10 MiB when the size is unknown)."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self._stream = stream
        self._label = label
        self._tty = stream.isatty()
        self._shown = -1
        self._open_line = False

    def __call__(self, done: int, total: int) -> None:
        percent = done * 100 // total if total else 0
        # redrawn at each percent on a terminal, else a line on entering the next 5 %
        step = (percent if self._tty else percent // 5) if total else done // (10 << 20)
        if step == self._shown:
            return
        self._shown = step
        amount = f"{_human_size(done)} of {_human_size(total)}" if total else _human_size(done)
        if self._tty:
            bar = f"[{'#' * (percent // 4):<25}] {percent:3d}% " if total else ""
            self._stream.write(f"\r{self._label} {bar}{amount}\x1b[K")
            self._open_line = True
        else:
            shown = f"{percent}% " if total else ""
            self._stream.write(f"{self._label}: {shown}{amount}\n")
        self._stream.flush()

    def end(self) -> None:
        if self._open_line:
            self._stream.write("\n")
            self._open_line = False


def _list_models(
    models: Sequence[ModelInfo], models_dir: Path, lang: str | None, everything: bool
) -> int:
    wanted = (lang or "").lower()
    shown = [
        model
        for model in models
        if (everything or not model.is_obsolete)
        # "en" covers en-us and en-in as well as en
        and (not wanted or f"{model.lang.lower()}-".startswith(f"{wanted}-"))
    ]
    if not shown:
        print(f"callcenter: no models for language {lang!r}", file=sys.stderr)
        return 1
    installed = {path.name for path in cached_models(models_dir)}
    rows = [("NAME", "LANG", "LANGUAGE", "SIZE", "INSTALLED")] + [
        (
            model.name + (" (obsolete)" if model.is_obsolete else ""),
            model.lang,
            model.lang_text,
            model.size_text or _human_size(model.size),
            "yes" if model.name in installed else "-",
        )
        for model in shown
    ]
    widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _pull(info: ModelInfo, settings: Settings) -> int:
    print(
        f"pulling {info.name} ({info.size_text or _human_size(info.size)}) "
        f"into {settings.models_dir}",
        file=sys.stderr,
    )
    report = _ProgressReport(sys.stderr, info.name)
    # `kill`, `timeout` and service managers send SIGTERM: clean up as for Ctrl-C
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if on_main_thread else None
    path: Path | None = None
    try:
        path = pull_model(
            info, settings.models_dir, base_url=settings.model_list_url, progress=report
        )
    except KeyboardInterrupt:
        pass
    finally:
        report.end()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if path is None:
        print("callcenter: pull interrupted, nothing kept", file=sys.stderr)
        return 130
    print(path)
    print(f"use it with CALLCENTER_VOSK_MODEL={info.name}", file=sys.stderr)
    return 0


def _verify(path: Path) -> int:
    if not path.is_dir():
        print(f"{path}: not a directory", file=sys.stderr)
        return 1
    missing = missing_files(path)
    for item in missing:
        print(f"{path}: missing {item}", file=sys.stderr)
    if missing:
        return 1
    print(f"{path}: ok, a Vosk model")
    return 0


def _models(args: argparse.Namespace) -> int:
    if args.action == "verify":
        return _verify(args.path)
    settings = load_settings(overrides=_overrides(args, ["models_dir", "model_list_url"]))
    models = fetch_model_list(settings.model_list_url)
    if args.action == "list":
        return _list_models(models, settings.models_dir, args.lang, args.all)
    return _pull(find_model(models, args.name, settings.model_list_url), settings)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            names = [flag.replace("-", "_") for flag, _ in _SERVE_FLAGS] + ["log_json", "dev"]
            return _serve(load_settings(overrides=_overrides(args, names)))
        if args.command == "rules":
            return _check_rules(args.paths)
        if args.command == "sentiment":
            return _sentiment(args)
        if args.command == "models":
            return _models(args)
        if args.command == "simulate":
            return _simulate(args)
        if args.command == "demo":
            return _demo(args)
        settings = load_settings(overrides=_overrides(args, ["redis_url", "data_dir"]))
        return asyncio.run(_tokens(args, settings))
    except CallcenterError as error:
        print(f"callcenter: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
