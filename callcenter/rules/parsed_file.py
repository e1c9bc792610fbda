"""One rule file read and checked against the schema, with the line of every key kept, so
each problem is reported as `file:line: message`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from callcenter.rules.schema import QueueSpec, RulesFile
from callcenter.rules.yaml_nodes import YamlSyntaxError, load_with_lines

KeyPath = tuple[str | int, ...]

_PATH_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_FIELD = re.compile(r"(?:unknown|missing required) field `([^`]+)`")


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(slots=True)
class ParsedFile:
    """A rule file's content (`spec`) and the 1-based line of each key path in it."""

    file: str
    spec: RulesFile
    lines: dict[KeyPath, int]

    def line(self, *path: str | int) -> int:
        """The line of `path`, else of its closest ancestor that has one, else 1."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1


def parse_file(path: Path, problems: list[Problem]) -> ParsedFile | None:
    """The file read and converted to a RulesFile; None, with the first problem appended to
    `problems`, when it cannot be read, is not YAML or does not fit the schema."""
    name = str(path)
    try:
        value, lines = load_with_lines(path.read_text(encoding="utf-8"))
    except YamlSyntaxError as error:
        problems.append(Problem(name, error.line, f"bad YAML: {error.message}"))
        return None
    except (OSError, UnicodeDecodeError) as error:
        problems.append(Problem(name, 1, f"cannot read: {error}"))
        return None
    document = value if value is not None else {}
    located = ParsedFile(name, RulesFile(), lines)
    if not _queues_convert(document, located, problems):
        return None
    if not _converts(document, RulesFile, (), located, problems):
        return None
    return ParsedFile(name, msgspec.convert(document, RulesFile), lines)


def _queues_convert(document: Any, located: ParsedFile, problems: list[Problem]) -> bool:
    # Queues one by one first: msgspec reports a bad value inside a mapping as
    # "$.queues[...]", which would lose the queue's name and so the line.
    queues = document.get("queues") if isinstance(document, dict) else None
    if not isinstance(queues, dict):
        return True
    return all(
        _converts(queue, QueueSpec, ("queues", str(name)), located, problems)
        for name, queue in queues.items()
    )


def _converts(
    value: Any, kind: type, at: KeyPath, located: ParsedFile, problems: list[Problem]
) -> bool:
    try:
        msgspec.convert(value, kind)
    except msgspec.ValidationError as error:
        where, reason = _path_of(error)
        where = (*at, *where)
        field = _FIELD.search(reason)
        line = located.lines.get((*where, field.group(1)), 0) if field else 0
        problems.append(Problem(located.file, line or located.line(*where), reason))
        return False
    return True


def _path_of(error: msgspec.ValidationError) -> tuple[KeyPath, str]:
    message = str(error)
    reason, _, where = message.partition(" - at `$")
    path: list[str | int] = []
    for name, index in _PATH_PART.findall(where.rstrip("`").split("[...]")[0]):
        path.append(name if name else int(index))
    return tuple(path), reason
