"""Service settings: read once from `CALLCENTER_*` environment variables and CLI flags,
cast strictly (a bad value is a SettingError naming the variable), secrets wrapped."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from callcenter import setting_values as values
from callcenter.errors import SettingError

ENV_PREFIX = "CALLCENTER_"
T = TypeVar("T")


class Secret:
    """A string that never shows itself in repr, str or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "callcenter"


def _default_models_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "callcenter" / "models"


MODEL_LIST_URL = "https://alphacephei.com/vosk/models/model-list.json"  # the official list


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    redis_url: str | None = None  # None: start an embedded redis-server
    # Sentinel: the primary named redis_master_name, wherever the sentinels say it is (the
    # URL then gives only the password, database and TLS)
    redis_sentinels: tuple[tuple[str, int], ...] = ()
    redis_master_name: str = "mymaster"
    redis_sentinel_password: Secret = field(default_factory=lambda: Secret(""))
    redis_cluster_nodes: tuple[tuple[str, int], ...] = ()  # Cluster: nodes to read slots from
    redis_ack_replicas: int = 0  # a commit answers once this many replicas have it
    redis_ack_timeout_ms: int = 500  # ... or fails (503) after this long
    invariant_sweep_seconds: float = 30.0  # how often one instance checks and repairs
    data_dir: Path = field(default_factory=_default_data_dir)
    rules_dir: Path | None = None  # None: ./routing_rules if present, else one default queue
    log_level: str = "INFO"
    log_json: bool = False
    dev: bool = False  # print a ready-made admin token at start
    max_body_bytes: int = 1_048_576
    max_batch_events: int = 500
    default_queue: str = "general"
    webhook_secret: Secret = field(default_factory=lambda: Secret(""))
    gateway_webhook_url: str | None = None  # where route.* events go (generic dialect)
    signature_tolerance_seconds: int = 300
    dedupe_window_seconds: int = 86_400
    # a gateway's occurred_at further than this from our clock is clamped to it (README)
    event_clock_tolerance_seconds: int = 300
    call_retention_days: int = 7
    history_retention_days: int = 400
    token_cache_seconds: float = 5.0
    admin_token: Secret = field(default_factory=lambda: Secret(""))  # for `simulate`
    shutdown_timeout_seconds: float = 10.0
    # gateways
    public_url: str | None = None  # how gateways reach us (behind a proxy); else the request's
    twilio_account_sid: str = ""
    twilio_auth_token: Secret = field(default_factory=lambda: Secret(""))
    twilio_api_url: str = "https://api.twilio.com"
    hold_music_url: str | None = None  # played to waiting Twilio callers; silence when unset
    agent_dial_template: str = "client:{agent_id}"  # or e.g. "sip:{agent_id}@pbx.example.com"
    # who places callbacks asked for through the API: twilio | asterisk | freeswitch |
    # generic; "" = the first of these that is configured
    callback_gateway: str = ""
    twilio_caller_id: str | None = None  # From of callback calls; else the number called
    twilio_announce_seconds: float = 60.0  # wait announcements on hold; 0: never
    # agents' SMS replies go through this Messaging Service (else from the number texted)
    twilio_messaging_service_sid: str | None = None
    # email: Mailgun routes in (signed), replies out through an SMTP relay
    mailgun_signing_key: Secret = field(default_factory=lambda: Secret(""))
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_implicit_tls: bool = False  # TLS from the first byte (port 465)
    smtp_ca_file: Path | None = None  # PEM: trust only these CAs for the relay
    smtp_username: str = ""
    smtp_password: Secret = field(default_factory=lambda: Secret(""))
    email_from: str = ""
    # signs web chat sessions; empty: a key made once and kept in Redis for every instance
    chat_secret: Secret = field(default_factory=lambda: Secret(""))
    chat_sessions_per_minute: int = 10  # new web chats per client address (every instance)
    jambonz_secret: Secret = field(default_factory=lambda: Secret(""))
    # jambonz live call control (REST call updates to our hooks; needs public_url too)
    jambonz_api_url: str | None = None  # the api server, e.g. https://api.jambonz.us; None = off
    jambonz_account_sid: str = ""
    jambonz_api_key: Secret = field(default_factory=lambda: Secret(""))
    # a jambonz dial target: user:{agent_id}[@domain], sip:..., +E.164 (not Twilio's client:)
    jambonz_agent_dial_template: str = "user:{agent_id}"
    jambonz_agent_ring_seconds: int = 30
    audiosocket_port: int = 0  # Asterisk AudioSocket TCP listener; 0 = off
    audiosocket_host: str = "127.0.0.1"  # its bind address: loopback unless told otherwise
    speech_engine: str = "off"  # off | pocketsphinx (bundled English) | vosk
    # vosk looks for its model: vosk_model_dir, else vosk_model (a name) in models_dir, else
    # the only or first model in models_dir, else an installed vosk-model-* package
    vosk_model_dir: Path | None = None
    vosk_model: str | None = None
    models_dir: Path = field(default_factory=_default_models_dir)  # `callcenter models pull`
    model_list_url: str = MODEL_LIST_URL
    asr_workers: int = 0  # 0: one per CPU
    asr_queue_frames: int = 100  # per leg: 2 s of 20 ms frames before the oldest are dropped
    freeswitch_esl_host: str = ""  # FreeSWITCH event socket to follow; empty = off
    freeswitch_esl_port: int = 8021
    freeswitch_esl_password: Secret = field(default_factory=lambda: Secret("ClueCon"))
    freeswitch_agent_variable: str = "cc_agent_id"
    # FreeSWITCH call control (on with the event socket): hold, agent legs, bridging
    freeswitch_hold_music: str = "local_stream://moh"  # what uuid_broadcast plays on hold
    freeswitch_agent_dial_template: str = "user/{agent_id}"  # the agent leg's dial string
    freeswitch_agent_ring_seconds: int = 30
    # callbacks through FreeSWITCH: the customer's leg's dial string (with {number})
    freeswitch_callback_dial_template: str = ""
    freeswitch_caller_id: str | None = None  # the number callbacks show; else the number called
    freeswitch_audio_fork_url: str = ""  # mod_audio_fork target (our /media/l16); empty = off
    # Asterisk: run as an ARI application (http://pbx:8088); empty = off
    asterisk_ari_url: str = ""
    asterisk_ari_user: str = "callcenter"
    asterisk_ari_password: Secret = field(default_factory=lambda: Secret(""))
    asterisk_app: str = "callcenter"  # the Stasis application name in the dialplan
    asterisk_music_class: str = "default"  # musiconhold.conf class the caller hears
    asterisk_agent_endpoint: str = "PJSIP/{agent_id}"  # an agent's leg is originated here
    asterisk_agent_ring_seconds: int = 30
    # callbacks through Asterisk: the customer's leg is originated here (with {number})
    asterisk_callback_endpoint: str = ""
    asterisk_caller_id: str | None = None  # the number callbacks show; else the number called
    # live audio of ARI calls: our AudioSocket listener as Asterisk reaches it (host:port)
    asterisk_audiosocket_address: str = ""
    asterisk_audio_format: str = "slin16"  # or slin (8 kHz)
    event_loop: str = "uvloop"  # or "asyncio"; uvloop is used only where installed


def _esl_argument(text: str) -> str:
    """One argument of an ESL api command line: it is split on spaces."""
    if not text or any(c.isspace() for c in text):
        raise ValueError("expected one word without spaces")
    return text


def _websocket_url(text: str) -> str:
    url = text.strip()
    if url and not url.startswith(("ws://", "wss://")):
        raise ValueError("expected a ws:// or wss:// URL")
    return _esl_argument(url) if url else ""


_CASTS: dict[str, Callable[[str], Any]] = {
    "host": str,
    "port": values.port,
    "redis_url": values.redis_url,
    "redis_sentinels": values.host_ports,
    "redis_master_name": str,
    "redis_sentinel_password": Secret,
    "redis_cluster_nodes": lambda text: values.host_ports(text, default_port="6379"),
    "redis_ack_replicas": values.non_negative_int,
    "redis_ack_timeout_ms": values.positive_int,
    "invariant_sweep_seconds": values.positive_float,
    "data_dir": Path,
    "rules_dir": Path,
    "log_level": values.log_level,
    "log_json": values.flag,
    "dev": values.flag,
    "max_body_bytes": values.positive_int,
    "max_batch_events": values.positive_int,
    "default_queue": values.queue,
    "webhook_secret": Secret,
    "gateway_webhook_url": values.http_url,
    "signature_tolerance_seconds": values.positive_int,
    "dedupe_window_seconds": values.positive_int,
    "event_clock_tolerance_seconds": values.positive_int,
    "call_retention_days": values.positive_int,
    "history_retention_days": values.positive_int,
    "token_cache_seconds": values.non_negative_float,
    "admin_token": Secret,
    "shutdown_timeout_seconds": values.positive_float,
    "event_loop": values.loop_kind,
    "public_url": values.http_url,
    "twilio_account_sid": str,
    "twilio_auth_token": Secret,
    "twilio_api_url": lambda text: values.http_url(text) or "https://api.twilio.com",
    "agent_dial_template": values.dial_template,
    "callback_gateway": values.callback_gateway,
    "twilio_caller_id": values.e164,
    "twilio_announce_seconds": values.non_negative_float,
    "twilio_messaging_service_sid": values.messaging_service,
    "mailgun_signing_key": Secret,
    "smtp_host": str,
    "smtp_port": values.port,
    "smtp_starttls": values.flag,
    "smtp_implicit_tls": values.flag,
    "smtp_ca_file": lambda text: values.readable_file(text, "a PEM file of CA certificates"),
    "smtp_username": str,
    "smtp_password": Secret,
    "email_from": str,
    "chat_secret": Secret,
    "chat_sessions_per_minute": values.positive_int,
    "hold_music_url": values.http_url,
    "jambonz_secret": Secret,
    "jambonz_api_url": values.http_url,
    "jambonz_account_sid": str,
    "jambonz_api_key": Secret,
    "jambonz_agent_dial_template": values.dial_template,
    "jambonz_agent_ring_seconds": values.positive_int,
    "audiosocket_port": values.port,
    "audiosocket_host": str,
    "speech_engine": values.speech_engine,
    "vosk_model_dir": Path,
    "vosk_model": values.model_name,
    "models_dir": Path,
    "model_list_url": lambda text: values.http_url(text) or MODEL_LIST_URL,
    "asr_workers": values.non_negative_int,
    "asr_queue_frames": values.positive_int,
    "freeswitch_esl_host": str,
    "freeswitch_esl_port": values.port,
    "freeswitch_esl_password": Secret,
    "freeswitch_agent_variable": values.queue,
    "freeswitch_hold_music": _esl_argument,
    "freeswitch_agent_dial_template": lambda text: _esl_argument(values.dial_template(text)),
    "freeswitch_agent_ring_seconds": values.positive_int,
    "freeswitch_callback_dial_template": lambda text: _esl_argument(values.number_template(text)),
    "freeswitch_caller_id": values.e164,
    "freeswitch_audio_fork_url": _websocket_url,
    "asterisk_ari_url": values.http_url,
    "asterisk_ari_user": str,
    "asterisk_ari_password": Secret,
    "asterisk_app": values.queue,
    "asterisk_music_class": values.queue,
    "asterisk_agent_endpoint": values.dial_template,
    "asterisk_agent_ring_seconds": values.positive_int,
    "asterisk_callback_endpoint": values.number_template,
    "asterisk_caller_id": values.e164,
    "asterisk_audiosocket_address": values.host_port,
    "asterisk_audio_format": values.audio_format,
}


def env_name(setting: str) -> str:
    return ENV_PREFIX + setting.upper()


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, str] | None = None
) -> Settings:
    """Settings from the environment, then `overrides` (raw strings, e.g. CLI flags) on top.

    Raises SettingError naming the variable or flag and why its value is refused."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for item in fields(Settings):
        given = _raw_value(item.name, environ, overrides or {})
        if given is not None:
            values[item.name] = _cast(item.name, *given)
    _refuse_unknown(environ)
    return Settings(**values)


def _raw_value(
    name: str, environ: Mapping[str, str], overrides: Mapping[str, str]
) -> tuple[str, str] | None:
    """A setting's raw text and where it comes from (a flag before the environment);
    None when neither gives it."""
    if overrides.get(name) is not None:
        return overrides[name], "--" + name.replace("_", "-")
    if env_name(name) in environ:
        return environ[env_name(name)], env_name(name)
    return None


def _cast(name: str, raw: str, source: str) -> Any:
    """Raises SettingError naming `source` (a secret's value is not shown)."""
    try:
        return _CASTS[name](raw)
    except ValueError as error:
        shown = "***" if isinstance(getattr(Settings(), name), Secret) else repr(raw)
        raise SettingError(source, f"{shown} is not valid: {error}") from None


def _refuse_unknown(environ: Mapping[str, str]) -> None:
    """Raises SettingError for the first CALLCENTER_* variable that is no setting."""
    known = {env_name(name) for name in _CASTS}
    unknown = [k for k in environ if k.startswith(ENV_PREFIX) and k not in known]
    if unknown:
        raise SettingError(unknown[0], "unknown setting (check the spelling)")
