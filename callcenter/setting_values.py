"""How each kind of setting value is read from its text: strictly, raising ValueError with
what was expected (settings.py names the variable around it)."""

from __future__ import annotations

import re
from pathlib import Path

_QUEUE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_MODEL_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_MESSAGING_SERVICE = re.compile(r"MG[0-9a-fA-F]{32}")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def flag(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ValueError("expected true, false, 1 or 0")


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("expected a positive integer")
    return value


def port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError("expected a port number 0..65535")
    return value


def host_port(text: str) -> str:
    """One `host:port` (kept as text); empty stays empty (off)."""
    if not text:
        return ""
    (host, port_number), *rest = host_ports(text, default_port="")
    if rest:
        raise ValueError("expected one host:port")
    return f"{host}:{port_number}"


def audio_format(text: str) -> str:
    if text not in ("slin", "slin16"):
        raise ValueError("expected slin (8 kHz) or slin16 (16 kHz)")
    return text


def host_ports(text: str, default_port: str = "26379") -> tuple[tuple[str, int], ...]:
    """`host:port,host:port` (the port defaults to Sentinel's 26379)."""
    found = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        host, _, port = item.rpartition(":") if ":" in item else (item, "", default_port)
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected host:port, got {item!r}")
        found.append((host.strip("[]"), int(port)))
    if not found:
        raise ValueError("expected host:port[,host:port…]")
    return tuple(found)


def readable_file(text: str, what: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise ValueError(f"expected {what}: no such file")
    return path


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError("expected a positive number")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("expected an integer >= 0")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise ValueError("expected a number >= 0")
    return value


def log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in _LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(_LOG_LEVELS)}")
    return level


def redis_url(text: str) -> str | None:
    url = text.strip()
    if not url:
        return None
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("expected a redis://, rediss:// or unix:// URL")
    return url


def http_url(text: str) -> str | None:
    url = text.strip()
    if not url:
        return None
    if not url.startswith(("http://", "https://")):
        raise ValueError("expected an http:// or https:// URL")
    return url


def speech_engine(text: str) -> str:
    if text not in ("off", "pocketsphinx", "vosk"):
        raise ValueError("expected off, pocketsphinx or vosk")
    return text


def _optional_match(text: str, pattern: re.Pattern[str], expected: str) -> str | None:
    """`text` stripped when it matches `pattern` whole; None when empty."""
    value = text.strip()
    if not value:
        return None
    if not pattern.fullmatch(value):
        raise ValueError(f"expected {expected}")
    return value


def e164(text: str) -> str | None:
    return _optional_match(text, _E164, "an E.164 number such as +15551234567")


def messaging_service(text: str) -> str | None:
    expected = "a Messaging Service SID: MG followed by 32 hex digits"
    return _optional_match(text, _MESSAGING_SERVICE, expected)


def callback_gateway(text: str) -> str:
    if text not in ("", "twilio", "asterisk", "freeswitch", "generic"):
        raise ValueError("expected twilio, asterisk, freeswitch or generic (or empty)")
    return text


def model_name(text: str) -> str | None:
    return _optional_match(text, _MODEL_NAME, "a model name such as vosk-model-small-en-us-0.15")


def dial_template(text: str) -> str:
    if "{agent_id}" not in text:
        raise ValueError("must contain {agent_id}, e.g. client:{agent_id}")
    return text


def number_template(text: str) -> str:
    if text and "{number}" not in text:
        raise ValueError("must contain {number}, e.g. PJSIP/{number}@provider")
    return text


def loop_kind(text: str) -> str:
    if text not in ("uvloop", "asyncio"):
        raise ValueError("expected uvloop or asyncio")
    return text


def queue(text: str) -> str:
    if not _QUEUE_NAME.fullmatch(text):
        raise ValueError("expected 1-64 letters, digits, '_', '.' or '-'")
    return text
