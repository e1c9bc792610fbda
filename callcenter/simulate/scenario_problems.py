"""The problems of a scenario file, each at its line (`file:line: message`): the file's
lines by path (from `callcenter.rules.yaml_nodes`), the problems found so far, and
conversion to the msgspec types of scenario_file.py that names the line of a bad value."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")
_PATH_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_FIELD = re.compile(r"(?:unknown|missing required) field `([^`]+)`")


class Located:
    """One scenario file being checked."""

    def __init__(self, file: str, lines: dict[tuple[str | int, ...], int]) -> None:
        self.file = file
        self.lines = lines
        self.problems: list[str] = []

    def line(self, *path: str | int) -> int:
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1

    def problem(self, path: tuple[str | int, ...], message: str) -> None:
        self.problems.append(f"{self.file}:{self.line(*path)}: {message}")

    def convert(self, value: Any, kind: type[T], at: tuple[str | int, ...]) -> T | None:
        try:
            return msgspec.convert(value, kind)
        except msgspec.ValidationError as error:
            reason, _, where = str(error).partition(" - at `")
            # a bad key is "at `key` in `$.path`": the line of the mapping it is in
            where = where.removeprefix("key` in `").removeprefix("$")
            path: list[str | int] = list(at)
            for name, index in _PATH_PART.findall(where.rstrip("`").split("[...]")[0]):
                path.append(name if name else int(index))
            field = _FIELD.search(reason)
            line = self.lines.get((*path, field.group(1)), 0) if field else 0
            self.problems.append(f"{self.file}:{line or self.line(*path)}: {reason}")
            return None
