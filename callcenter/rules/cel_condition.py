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
        self._needs: Needs = tuple((name, fields_selected(source, name)) for name in self._names)
        self.only_queue = only_queue(source)

    def matches(self, context: Mapping[str, Any]) -> bool:
        """Only the names the expression uses are converted for the engine, and of a map
        only the fields it selects (when that is all it does with it); a call's
        `RuleContext` keeps them converted for the next condition."""
        try:
            result = self._program.execute(self._bound(context))
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise ConditionError(_describe(error)) from None
        if not isinstance(result, bool):
            raise ConditionError(f"evaluates to {type(result).__name__}, not a bool")
        return result

    def _bound(self, context: Mapping[str, Any]) -> cel.Context | dict[str, Any]:
        # a name the context lacks is left to the engine: a macro's bound variable (`t` in
        # `caller.tags.exists(t, t == "vip")`) is its own, any other is "undefined"
        if not isinstance(context, RuleContext):
            return {name: context[name] for name in self._names if name in context}
        if not isinstance(context.converted, _Converted):
            context.converted = _Converted()
        return context.converted.with_names(context, self._needs)

    def __repr__(self) -> str:
        return f"CelCondition({self.source!r})"


Fields = frozenset[str] | None  # the fields of a map needed; None: the whole value


class _Converted:
    """The engine's form of a context's values: for each name converted so far, the
    fields of it converted (None: the whole value). Converting costs about 1.5 µs a
    field, and a call or caller has a dozen of which rules mostly select two or three."""

    def __init__(self) -> None:
        self.context = cel.Context()
        self.fields: dict[str, Fields] = {}
        # the needs met already: a run of rules over the same fields costs one look-up each
        self._met: set[Needs] = set()

    @property
    def names(self) -> set[str]:
        return set(self.fields)

    def with_names(self, values: Mapping[str, Any], needs: Needs) -> cel.Context:
        if needs in self._met:
            return self.context  # a wider conversion since still meets them
        self._met.add(needs)
        for name, wanted in needs:
            if name not in values:
                continue
            have = self.fields.get(name, frozenset())
            if have is None or (wanted is not None and wanted <= have):
                continue  # converted already, with these fields
            self._convert(name, values[name], None if wanted is None else wanted | have)
        return self.context

    def _convert(self, name: str, value: Any, wanted: Fields) -> None:
        if wanted is not None and isinstance(value, Mapping):
            value = {field: value[field] for field in wanted if field in value}
        else:
            wanted = None
        self.context.add_variable(name, value)  # replaces a narrower conversion
        self.fields[name] = wanted


Needs = tuple[tuple[str, Fields], ...]


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SELECTION = re.compile(r"\s*\.\s*(?P<field>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<call>\()?")


def fields_selected(source: str, name: str) -> Fields:
    """The fields of variable `name` that `source` selects, when every appearance of the
    name is a plain selection `name.field`; else None (the whole value is needed: the
    name alone, `name[...]`, `name.method(...)`, `size(name)`, `"x" in name`, a macro's
    bound variable…). Reading the text, not the parse, errs only towards None or extra
    fields (an appearance inside a string literal), and a map with extra fields present
    answers every selection the same."""
    fields: set[str] = set()
    for found in _IDENTIFIER.finditer(source):
        if found.group() != name or _is_member(source[: found.start()]):
            continue  # another identifier, or a field of something else named like it
        selection = _SELECTION.match(source, found.end())
        if selection is None or selection.group("call") is not None:
            return None
        fields.add(selection.group("field"))
    return frozenset(fields) if fields else None


def _is_member(before: str) -> bool:
    """Whether an identifier after `before` is a field (`x.name`), not a variable: a dot
    after an operand. A dot after anything else makes `.name`, the variable itself."""
    before = before.rstrip()
    if not before.endswith("."):
        return False
    operand_end = before[:-1].rstrip()[-1:]
    return operand_end.isalnum() or operand_end in "_)]}\"'"


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
