"""CEL conditions: the only module that imports the CEL engine."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import cel

from callcenter.domain.routing_context import RuleContext
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
        self._names = tuple(self._program.references()["variables"])
        self.only_queue = only_queue(source)

    def matches(self, context: Mapping[str, Any]) -> bool:
        """Only the names the expression uses are converted for the engine; a call's
        `RuleContext` keeps them converted for the next condition."""
        try:
            result = self._program.execute(self._bound(context))
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise ConditionError(_describe(error)) from None
        if not isinstance(result, bool):
            raise ConditionError(f"evaluates to {type(result).__name__}, not a bool")
        return result

    def _bound(self, context: Mapping[str, Any]) -> cel.Context | dict[str, Any]:
        if not isinstance(context, RuleContext):
            return {name: context[name] for name in self._names}
        if not isinstance(context.converted, _Converted):
            context.converted = _Converted()
        return context.converted.with_names(context, self._names)

    def __repr__(self) -> str:
        return f"CelCondition({self.source!r})"


class _Converted:
    """The engine's form of a context's values, and which names it has so far."""

    def __init__(self) -> None:
        self.context = cel.Context()
        self.names: set[str] = set()

    def with_names(self, values: Mapping[str, Any], names: tuple[str, ...]) -> cel.Context:
        for name in names:
            if name not in self.names:
                self.context.add_variable(name, values[name])
                self.names.add(name)
        return self.context


# `call.queue == "billing"` (or `task.queue`, single quotes), alone or followed by `&& …`
# with no `||` and no `?` anywhere after it (they would bind looser than the `&&`)
_QUEUE_TEST = re.compile(
    r"""\s*(?:call|task)\.queue\s*==\s*(?:"(?P<dq>[^"\\]*)"|'(?P<sq>[^'\\]*)')"""
    r"""\s*(?:&&(?P<rest>.*))?""",
    re.DOTALL,
)


def only_queue(source: str) -> str | None:
    """The queue an expression requires when it is a plain test of the call's queue hint,
    alone or and-ed before the rest (false for any other queue, whatever the rest: CEL's
    `false && x` is false even when `x` fails); else None."""
    found = _QUEUE_TEST.fullmatch(source)
    if found is None:
        return None
    rest = found.group("rest")
    if rest is not None and ("||" in rest or "?" in rest or not rest.strip()):
        return None
    return found.group("dq") if found.group("dq") is not None else found.group("sq")


def _first_line(message: str) -> str:
    return message.split("\n", 1)[0]


def _describe(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"no field {error.args[0]!r}"
    return _first_line(str(error))
