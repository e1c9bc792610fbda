"""CEL conditions: the only module that imports the CEL engine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cel

from callcenter.domain.routing_rules import ConditionError


class CelCondition:
    """A compiled CEL expression that must evaluate to a bool."""

    def __init__(self, source: str) -> None:
        """Compile `source`; raise ValueError with the engine's message if it is not CEL."""
        self.source = source
        try:
            self._program = cel.compile(source)
        except ValueError as error:
            raise ValueError(_first_line(str(error))) from None

    def matches(self, context: Mapping[str, Any]) -> bool:
        try:
            result = self._program.execute(dict(context))
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise ConditionError(_describe(error)) from None
        if not isinstance(result, bool):
            raise ConditionError(f"evaluates to {type(result).__name__}, not a bool")
        return result

    def __repr__(self) -> str:
        return f"CelCondition({self.source!r})"


def _first_line(message: str) -> str:
    return message.split("\n", 1)[0]


def _describe(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"no field {error.args[0]!r}"
    return _first_line(str(error))
