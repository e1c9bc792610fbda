"""What a run prints: a progress line while it runs and, at the end (or when stopped), a
summary table per queue with service level, ASA, AHT and abandonment, then callbacks and
the wait estimate's error (report_callbacks.py), text conversations per channel
(report_texts.py), alerts, routing errors and the server's counts against ours."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from callcenter.simulate.ledger import CallRecord, Ledger, Outcome
from callcenter.simulate.metrics_check import Check
from callcenter.simulate.report_callbacks import callback_lines, estimate_line
from callcenter.simulate.report_texts import text_lines
from callcenter.simulate.run_result import RunResult
from callcenter.simulate.scenario import Scenario

SHOWN_PROBLEMS = 10


def progress_line(elapsed: float, ledger: Ledger) -> str:
    live = ledger.live()
    return (
        f"{elapsed:6.0f} s | placed {live.get('placed', 0)} | waiting {live.get('waiting', 0)}"
        f" | talking {live.get('talking', 0)} | served {live.get('served', 0)}"
        f" | abandoned {live.get('abandoned', 0)} | callbacks {live.get('callback', 0)}"
        + _texts_open(ledger)
        + f" | alerts {sum(ledger.alerts.values())}"
        f" | errors {len(ledger.routing_errors) + len(ledger.failures)}"
    )


def _texts_open(ledger: Ledger) -> str:
    if not ledger.texts:
        return ""
    opened = ledger.opened()
    return f" | texts {len(opened)} ({sum(r.closed_at is None for r in opened)} open)"


@dataclass(frozen=True, slots=True)
class QueueFigures:
    name: str
    placed: int
    served: int
    abandoned: int
    service_level: float | None  # answered within the threshold, of calls that ended
    threshold: float
    asa: float | None  # mean wait of answered calls
    aht: float | None  # mean talk time of answered calls
    longest_wait: float | None

    @property
    def abandonment(self) -> float | None:
        ended = self.served + self.abandoned
        return self.abandoned / ended if ended else None


def figures(name: str, records: Sequence[CallRecord], threshold: float) -> QueueFigures:
    served = [r for r in records if r.outcome is Outcome.SERVED]
    abandoned = sum(r.outcome in (Outcome.ABANDONED, Outcome.CANCELED) for r in records)
    waits = _known([r.wait_seconds for r in served])
    ended = len(served) + abandoned
    return QueueFigures(
        name=name,
        placed=len(records),
        served=len(served),
        abandoned=abandoned,
        service_level=_share(sum(w <= threshold for w in waits), ended),
        threshold=threshold,
        asa=_mean(waits),
        aht=_mean(_known([r.talk_seconds for r in served])),
        longest_wait=max(_known([r.wait_seconds for r in records]), default=None),
    )


def _known(values: Sequence[float | None]) -> list[float]:
    return [value for value in values if value is not None]


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _share(part: float, whole: int) -> float | None:
    return part / whole if whole else None


def counted(scenario: Scenario, ledger: Ledger) -> list[CallRecord]:
    """The calls the figures count: placed after the warm-up."""
    return [r for r in ledger.placed() if r.plan.at_seconds >= scenario.warm_up_seconds]


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} s" if value < 10 else f"{value:.0f} s"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


HEADINGS = (
    "queue",
    "placed",
    "served",
    "abandoned",
    "service level",
    "ASA",
    "AHT",
    "abandon",
    "max wait",
)


def summary_of(result: RunResult) -> list[str]:
    """The summary of a finished (or stopped) run."""
    return summary(
        result.scenario,
        result.ledger,
        elapsed=result.elapsed,
        interrupted=result.interrupted,
        checks=result.checks,
        server_problems=result.server_problems,
    )


def summary(
    scenario: Scenario,
    ledger: Ledger,
    *,
    elapsed: float,
    interrupted: bool,
    checks: Sequence[Check] | None,
    server_problems: Sequence[str] = (),
) -> list[str]:
    records = counted(scenario, ledger)
    head = _head(scenario, ledger, records, elapsed=elapsed, interrupted=interrupted)
    lines = [head, "", *_table(_queue_rows(scenario, records)), ""]
    lines += callback_lines(scenario, records)
    lines.append(estimate_line(records))
    lines += text_lines(scenario, ledger)
    lines += _alert_lines(ledger, records)
    lines += _problem_lines("routing errors", ledger.routing_errors + list(server_problems))
    lines += _problem_lines("request failures", ledger.failures)
    if checks is not None:
        lines += _check_lines(checks)
    if ledger.notes:
        lines.append(
            "notes: " + "; ".join(f"{what}: {n}" for what, n in sorted(ledger.notes.items()))
        )
    return lines


def _head(
    scenario: Scenario,
    ledger: Ledger,
    records: Sequence[CallRecord],
    *,
    elapsed: float,
    interrupted: bool,
) -> str:
    head = f"{scenario.name}: {elapsed:.0f} s, {len(ledger.placed())} calls placed"
    if ledger.texts:
        head += f", {len(ledger.opened())} text conversations opened"
    if scenario.warm_up_seconds and len(records) != len(ledger.placed()):
        head += f" ({len(records)} after the {scenario.warm_up_seconds:g} s warm-up counted)"
    if interrupted:
        head += " - STOPPED EARLY, partial figures"
    return head


def _queue_rows(scenario: Scenario, records: Sequence[CallRecord]) -> list[tuple[str, ...]]:
    """The table's heading, a row per queue and one for all of them."""
    per_queue = [
        figures(name, [r for r in records if r.plan.queue == name], queue.service_level_seconds)
        for name, queue in scenario.queues.items()
    ]
    thresholds = {q.threshold for q in per_queue}
    one_threshold = len(thresholds) == 1
    total = figures("all", records, next(iter(thresholds)) if one_threshold else 0.0)
    return [
        HEADINGS,
        *(_row(item, _level(item, per_queue, one_threshold)) for item in [*per_queue, total]),
    ]


def _level(item: QueueFigures, per_queue: Sequence[QueueFigures], one_threshold: bool) -> str:
    """A row's service level with its threshold; for all queues with different thresholds,
    the levels blended by their calls."""
    if item.name != "all" or one_threshold:
        return f"{_percent(item.service_level)} <={item.threshold:g}s"
    return _percent(_blended_service_level(per_queue))


def _row(item: QueueFigures, level: str) -> tuple[str, ...]:
    return (
        item.name,
        str(item.placed),
        str(item.served),
        str(item.abandoned),
        level,
        _seconds(item.asa),
        _seconds(item.aht),
        _percent(item.abandonment),
        _seconds(item.longest_wait),
    )


def _blended_service_level(per_queue: Sequence[QueueFigures]) -> float | None:
    ended = sum(q.served + q.abandoned for q in per_queue)
    within = sum((q.service_level or 0.0) * (q.served + q.abandoned) for q in per_queue)
    return within / ended if ended else None


def _alert_lines(ledger: Ledger, records: Sequence[CallRecord]) -> list[str]:
    total = sum(ledger.alerts.values())
    rules = ", ".join(f"{rule} {n}" for rule, n in sorted(ledger.alerts.items()))
    line = f"alerts raised: {total}" + (f" ({rules})" if rules else "")
    heard = [r for r in records if r.spoke]
    angry = [r for r in heard if r.plan.mood == "angry"]
    others = [r for r in heard if r.plan.mood != "angry"]
    line += _heard("angry", angry) + _heard("other", others)
    return [line]


def _heard(label: str, heard: Sequence[CallRecord]) -> str:
    """How many callers of a kind were heard, and how many of them raised an alert."""
    if not heard:
        return ""
    alerted = sum(bool(r.alerts) for r in heard)
    return f"; {label} callers heard: {len(heard)}, with an alert: {alerted}"


def _problem_lines(title: str, problems: Sequence[str]) -> list[str]:
    if not problems:
        return [f"{title}: 0"]
    lines = [f"{title}: {len(problems)}"]
    lines += [f"  {p}" for p in problems[:SHOWN_PROBLEMS]]
    if len(problems) > SHOWN_PROBLEMS:
        lines.append(f"  ... and {len(problems) - SHOWN_PROBLEMS} more")
    return lines


def _check_lines(checks: Sequence[Check]) -> list[str]:
    compared = [c for c in checks if c.got is not None]
    wrong = [c for c in compared if not c.ok]
    skipped = [c.what for c in checks if c.got is None]
    if wrong:
        lines = [f"server metrics: {len(wrong)} of {len(compared)} counts differ from ours"]
        lines += [f"  {c.what}: server {c.got:g}, simulator {c.expected:g}" for c in wrong]
    else:
        lines = [f"server metrics: all {len(compared)} counts equal the simulator's"]
    if skipped:
        lines.append(f"  not exported by this server (not checked): {', '.join(skipped)}")
    return lines
