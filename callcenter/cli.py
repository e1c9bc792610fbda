"""The `callcenter` command: `serve`, `tokens create | list | revoke`, `rules check`,
`sentiment`, `models list | pull | verify` (Vosk speech models), and `simulate` and `demo`
(simulated gateway traffic and agents; see callcenter/simulate/).

Parses arguments, configures logging and runs; errors become one line on stderr and exit 2."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
from aiohttp import web

from callcenter.app import create_app
from callcenter.cli_models import add_models_parser, run_models
from callcenter.domain.auth import parse_role
from callcenter.errors import CallcenterError, RulesInvalid
from callcenter.logs import configure_logging
from callcenter.rules.loader import load_rules
from callcenter.settings import Settings, load_settings
from callcenter.speech.sentiment import load_scorer
from callcenter.storage.connection import configured_redis
from callcenter.storage.documents import DocumentStore
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

    add_models_parser(commands)
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
    simulate.add_argument(
        "--token-file",
        type=Path,
        help="a file whose first line is an admin token of the server ('-': standard "
        "input); or set CALLCENTER_ADMIN_TOKEN",
    )
    simulate.add_argument(
        "--token", help="an admin token (discouraged: other users see it in ps; use the above)"
    )
    simulate.add_argument(
        "--server", help="the server's URL (default http://127.0.0.1:$CALLCENTER_PORT)"
    )
    simulate.add_argument(
        "--check", action="store_true", help="only check the scenario file (file:line errors)"
    )
    simulate.add_argument(
        "--gateway",
        choices=["twilio", "generic", "asterisk", "freeswitch"],
        help="override the dialect",
    )
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
    parser.add_argument(
        "--ari-port",
        type=int,
        help="where the simulated Asterisk serves ARI (default: the port of "
        "CALLCENTER_ASTERISK_ARI_URL, else 8088)",
    )
    parser.add_argument(
        "--esl-port",
        type=int,
        help="where the simulated FreeSWITCH serves its event socket (default: "
        "CALLCENTER_FREESWITCH_ESL_PORT)",
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
    from callcenter.simulate import command  # only this command loads the simulator

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
    options = command.options_from(
        server=args.server,
        token=_admin_token(args),
        public_url=args.public_url,
        twilio_api_port=args.twilio_api_port,
        ari_port=args.ari_port,
        esl_port=args.esl_port,
        speech=not args.no_speech,
        drain_seconds=args.drain_seconds,
        connect_timeout=args.connect_timeout,
    )
    return command.simulate(scenario, options)


def _admin_token(args: argparse.Namespace) -> str:
    """The token `simulate` acts with: --token-file, else --token, else
    CALLCENTER_ADMIN_TOKEN. Raises CallcenterError when there is none."""
    if args.token_file is not None:
        try:
            text = sys.stdin.read() if str(args.token_file) == "-" else args.token_file.read_text()
        except OSError as error:
            raise CallcenterError(f"cannot read --token-file: {error.strerror}") from None
        token = text.strip().partition("\n")[0].strip()
    elif args.token:
        print(
            "callcenter: --token shows the token to every user of this machine (ps); "
            "prefer --token-file or CALLCENTER_ADMIN_TOKEN",
            file=sys.stderr,
        )
        token = args.token
    else:
        token = load_settings(overrides={}).admin_token.reveal()
    if not token:
        raise CallcenterError(
            "simulate needs --token-file FILE (or - for standard input) or "
            "CALLCENTER_ADMIN_TOKEN: an admin token (`callcenter serve --dev` prints one)"
        )
    return token


def _demo(args: argparse.Namespace) -> int:
    from callcenter.simulate import demo  # only this command loads the simulator

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
    redis = configured_redis(
        settings, embedded_dir=settings.data_dir / "redis", reuse_embedded=True
    )
    async with redis as client:
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
            names = ["models_dir", "model_list_url"]
            return run_models(args, lambda: load_settings(overrides=_overrides(args, names)))
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
