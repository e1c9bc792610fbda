"""Replayed traffic: a CSV of calls with the columns `at_seconds`, `queue`,
`handle_seconds` and optionally `patience_seconds` (empty: the caller never hangs up),
`caller` (the number calling) and `mood` (angry, neutral, happy; empty: silent).
Every problem is reported as `file:line: message`."""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

REQUIRED = ("at_seconds", "queue", "handle_seconds")
OPTIONAL = ("patience_seconds", "caller", "mood")
MOODS = ("angry", "neutral", "happy")
_NUMBER = re.compile(r"\+?[0-9]{3,15}")
MAX_PROBLEMS = 20


@dataclass(frozen=True, slots=True)
class TraceCall:
    at_seconds: float
    queue: str
    handle_seconds: float
    patience_seconds: float | None
    caller: str | None
    mood: str | None
    line: int


def _seconds(text: str, column: str, *, blank_ok: bool = False) -> float | None:
    """Raises ValueError with the reason."""
    text = text.strip()
    if not text:
        if blank_ok:
            return None
        raise ValueError(f"{column} is empty")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{column} {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{column} must be a number of seconds >= 0, got {text!r}")
    return value


def _row(row: dict[str, str], line: int, previous_at: float) -> TraceCall:
    """The call of a row whose fields are all there; raises ValueError with the reason
    (the first one, in the order of the columns)."""
    at = _required_seconds(row, "at_seconds")
    if at < previous_at:
        raise ValueError(f"at_seconds {at:g} is before the previous call's {previous_at:g}")
    return TraceCall(
        at,
        _queue(row),
        _required_seconds(row, "handle_seconds"),
        _seconds(row.get("patience_seconds") or "", "patience_seconds", blank_ok=True),
        _caller(row),
        _mood(row),
        line,
    )


def _required_seconds(row: dict[str, str], column: str) -> float:
    value = _seconds(row[column], column)
    assert value is not None
    return value


def _queue(row: dict[str, str]) -> str:
    queue = row["queue"].strip()
    if not queue:
        raise ValueError("queue is empty")
    return queue


def _optional(row: dict[str, str], column: str) -> str | None:
    return (row.get(column) or "").strip() or None


def _caller(row: dict[str, str]) -> str | None:
    caller = _optional(row, "caller")
    if caller is not None and not _NUMBER.fullmatch(caller):
        raise ValueError(f"caller {caller!r} is not a phone number (+ and 3-15 digits)")
    return caller


def _mood(row: dict[str, str]) -> str | None:
    mood = _optional(row, "mood")
    if mood is not None and mood not in MOODS:
        raise ValueError(f"mood {mood!r} is not one of {', '.join(MOODS)} (or empty)")
    return mood


def parse_trace(text: str, name: str) -> tuple[list[TraceCall], list[str]]:
    """The calls of a trace and its problems (`name:line: message`, at most 20)."""
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    problem = _header_problem(columns)
    if problem is not None:
        return [], [f"{name}:1: {problem}"]
    reader.fieldnames = columns
    calls, problems = _calls(reader, len(columns), name)
    if not calls and not problems:
        problems.append(f"{name}:1: no calls in the trace")
    return calls, problems


def _header_problem(columns: list[str]) -> str | None:
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        return f"missing column(s) {', '.join(missing)} (need {', '.join(REQUIRED)})"
    unknown = [c for c in columns if c not in REQUIRED + OPTIONAL]
    if unknown:
        return f"unknown column(s) {', '.join(unknown)} (known: {', '.join(REQUIRED + OPTIONAL)})"
    return None


def _calls(reader: csv.DictReader[str], width: int, name: str) -> tuple[list[TraceCall], list[str]]:
    """Every row's call, or its problem; at most MAX_PROBLEMS problems."""
    calls: list[TraceCall] = []
    problems: list[str] = []
    previous_at = 0.0
    for row in reader:
        line = reader.line_num
        try:
            call = _whole_row(row, width, line, previous_at)
        except ValueError as error:
            problems.append(f"{name}:{line}: {error}")
        else:
            calls.append(call)
            previous_at = call.at_seconds
        if len(problems) >= MAX_PROBLEMS:
            problems.append(f"{name}: stopped after {MAX_PROBLEMS} problems")
            break
    return calls, problems


def _whole_row(row: dict[str, str], width: int, line: int, previous_at: float) -> TraceCall:
    """A row with as many fields as the header: the call it describes."""
    if None in row or any(row.get(c) is None for c in REQUIRED):
        raise ValueError(f"expected {width} fields")
    return _row(row, line, previous_at)


def load_trace(path: Path) -> tuple[list[TraceCall], list[str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return [], [f"{path}:1: cannot read: {error}"]
    return parse_trace(text, str(path))
