"""The `alerts:` sections of the rule files, checked and built into AlertRules."""

from __future__ import annotations

from callcenter.domain.alerts import AlertActions, AlertKind, AlertRule
from callcenter.rules.parsed_file import ParsedFile, Problem
from callcenter.rules.schema import AlertSpec


def build_alerts(parsed: list[ParsedFile], problems: list[Problem]) -> tuple[AlertRule, ...]:
    """Every file's alert rules in file order; appends a problem for an alert that watches
    not exactly one thing, or whose name an earlier alert took."""
    built: list[AlertRule] = []
    names: set[str] = set()
    for p in parsed:
        for index, spec in enumerate(p.spec.alerts):
            line = p.line("alerts", index)
            kinds = _watched_kinds(spec)
            if len(kinds) != 1:
                problems.append(
                    Problem(
                        p.file,
                        line,
                        f"alert {spec.name!r} needs exactly one of mood_below, phrases, "
                        f"silence_seconds (has {len(kinds)})",
                    )
                )
                continue
            if spec.name in names:
                problems.append(Problem(p.file, line, f"alert {spec.name!r} defined twice"))
            names.add(spec.name)
            built.append(_alert_rule(spec, kinds[0], line))
    return tuple(built)


def _watched_kinds(spec: AlertSpec) -> list[AlertKind]:
    watched = {
        AlertKind.MOOD: spec.mood_below is not None,
        AlertKind.KEYWORD: spec.phrases is not None,
        AlertKind.SILENCE: spec.silence_seconds is not None,
    }
    return [kind for kind, given in watched.items() if given]


def _alert_rule(spec: AlertSpec, kind: AlertKind, line: int) -> AlertRule:
    return AlertRule(
        name=spec.name,
        kind=kind,
        speaker=None if spec.speaker == "any" else spec.speaker,
        mood_below=spec.mood_below if spec.mood_below is not None else -0.4,
        utterances=spec.utterances,
        phrases=tuple(spec.phrases or ()),
        silence_seconds=spec.silence_seconds or 0.0,
        severity=spec.severity,
        actions=AlertActions(
            alert=spec.actions.alert,
            raise_priority=spec.actions.raise_priority,
            tag_caller=spec.actions.tag_caller,
        ),
        line=line,
    )
