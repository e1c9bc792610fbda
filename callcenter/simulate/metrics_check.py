"""The server's own counts (Prometheus text from /metrics) against the simulator's: what
changed between a scrape before the run and one after must be exactly what the run did,
callbacks and text tasks included."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from callcenter.simulate.ledger import SERVER_OUTCOMES, CallRecord, Ledger, Outcome, TextRecord
from callcenter.simulate.twilio_callbacks import ANSWERED

Key = tuple[str, frozenset[tuple[str, str]]]


@dataclass(frozen=True, slots=True)
class Sample:
    """Every sample of one exposition, by name and labels, and the families it declares
    (a labelled counter nothing has incremented yet has a family and no samples)."""

    values: dict[Key, float]
    families: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> Sample:
        values: dict[Key, float] = {}
        families: set[str] = set()
        for family in text_string_to_metric_families(text):
            families.add(family.name)
            for sample in family.samples:
                values[sample.name, frozenset(sample.labels.items())] = float(sample.value)
        return cls(values, frozenset(families))

    def total(self, name: str, **labels: str) -> float:
        """The sum of `name` over the samples whose labels include `labels`."""
        wanted = set(labels.items())
        return sum(v for (n, got), v in self.values.items() if n == name and wanted <= got)

    def has(self, name: str) -> bool:
        if any(n == name for n, _ in self.values):
            return True
        for suffix in ("_total", "_count", "_sum", "_bucket"):
            if name.endswith(suffix) and name[: -len(suffix)] in self.families:
                return True
        return name in self.families


@dataclass(frozen=True, slots=True)
class Check:
    what: str
    expected: float
    got: float | None  # None: the server does not export it

    @property
    def ok(self) -> bool:
        return self.got is None or abs(self.got - self.expected) < 1e-9


def _delta(before: Sample, after: Sample, name: str, **labels: str) -> float | None:
    if not after.has(name):
        return None
    return after.total(name, **labels) - before.total(name, **labels)


def compare(before: Sample, after: Sample, ledger: Ledger, dialect: str) -> list[Check]:
    """The checks a finished run must pass (a check whose metric is missing shows as
    skipped, never as passed silently: `got` is None)."""
    checks: list[Check] = []
    records = ledger.placed()
    by_queue: Counter[tuple[str, str]] = Counter(
        (r.plan.queue, SERVER_OUTCOMES[r.outcome]) for r in records if r.outcome is not None
    )
    queues = sorted({r.plan.queue for r in records})
    for queue in queues:
        for label in ("handled", "abandoned"):
            checks.append(
                Check(
                    f"callcenter_calls_total{{queue={queue},outcome={label}}}",
                    by_queue[queue, label],
                    _delta(before, after, "callcenter_calls_total", queue=queue, outcome=label),
                )
            )
        checks.append(
            Check(
                f"callcenter_queue_wait_seconds_count{{queue={queue}}}",
                by_queue[queue, "handled"],
                _delta(before, after, "callcenter_queue_wait_seconds_count", queue=queue),
            )
        )
    checks.append(
        Check(
            "callcenter_calls_total{outcome=failed} (callbacks nobody answered)",
            sum(n for (_, label), n in by_queue.items() if label == "failed"),
            _delta(before, after, "callcenter_calls_total", outcome="failed"),
        )
    )
    if any(r.callback for r in records):
        checks.extend(_callback_checks(before, after, records))
    checks.extend(_text_checks(before, after, ledger.opened()))
    checks.extend(_event_checks(before, after, ledger, dialect))
    checks.append(
        Check(
            "callcenter_alerts_total (all kinds)",
            sum(ledger.alerts.values()) + ledger.unknown_alerts,
            _delta(before, after, "callcenter_alerts_total"),
        )
    )
    return checks


def _callback_checks(before: Sample, after: Sample, records: list[CallRecord]) -> Iterable[Check]:
    """`callbacks_total{queue,outcome}`: requested, answered, each retried attempt and the
    final outcome of one given up or canceled; and the accepts timed by the wait histogram."""
    expected: Counter[tuple[str, str]] = Counter()
    for record in records:
        if record.callback:
            expected.update((record.plan.queue, what) for what in _callback_counts(record))
    name = "callcenter_callbacks_total"
    for queue in sorted({q for q, _ in expected}):
        for outcome in ("requested", "answered", "retried", "busy", "no_answer", "canceled"):
            yield Check(
                f"{name}{{queue={queue},outcome={outcome}}}",
                expected[queue, outcome],
                _delta(before, after, name, queue=queue, outcome=outcome),
            )
        yield Check(
            f"callcenter_callback_wait_seconds_count{{queue={queue}}}",
            expected[queue, "accepted"],
            _delta(before, after, "callcenter_callback_wait_seconds_count", queue=queue),
        )


def _callback_counts(record: CallRecord) -> list[str]:
    """What one callback adds to `callbacks_total` (by outcome; "accepted": to the wait
    histogram's count)."""
    answers = [a.answer for a in record.callback_attempts]
    unanswered = [a for a in answers if a is not None and a != ANSWERED]
    counts = ["requested"] + ["answered"] * answers.count(ANSWERED)
    counts += ["accepted"] * len(record.accepts)
    if record.outcome is Outcome.FAILED and unanswered:
        counts += ["retried"] * (len(unanswered) - 1) + [unanswered[-1].replace("-", "_")]
    else:
        counts += ["retried"] * len(unanswered)
    if record.outcome is Outcome.CANCELED:
        counts.append("canceled")
    return counts


def _text_checks(before: Sample, after: Sample, opened: list[TextRecord]) -> Iterable[Check]:
    """Per channel: `tasks_total` created, handled and abandoned, `task_messages_total` by
    author, and the first responses timed (`first_response_seconds_count`)."""
    for channel in sorted({r.plan.channel for r in opened}):
        records = [r for r in opened if r.plan.channel == channel]
        for name, labels, expected in _text_counts(records):
            labels = {"channel": channel, **labels}
            shown = ",".join(f"{k}={v}" for k, v in labels.items())
            yield Check(f"{name}{{{shown}}}", expected, _delta(before, after, name, **labels))


def _text_counts(records: list[TextRecord]) -> list[tuple[str, dict[str, str], int]]:
    """What one channel's conversations add to the server's counters."""
    outcomes = Counter(r.outcome for r in records)
    return [
        ("callcenter_tasks_total", {"outcome": "created"}, len(records)),
        ("callcenter_tasks_total", {"outcome": "handled"}, outcomes["handled"]),
        ("callcenter_tasks_total", {"outcome": "abandoned"}, outcomes["abandoned"]),
        (
            "callcenter_task_messages_total",
            {"author": "customer"},
            sum(len(r.customer_messages) for r in records),
        ),
        (
            "callcenter_task_messages_total",
            {"author": "agent"},
            sum(len(r.replies) for r in records),
        ),
        ("callcenter_first_response_seconds_count", {}, sum(bool(r.replies) for r in records)),
    ]


def _event_checks(before: Sample, after: Sample, ledger: Ledger, dialect: str) -> Iterable[Check]:
    name = "callcenter_events_total"
    types = sorted({kind for kind, _ in ledger.events})
    for kind in types:
        results = {result for k, result in ledger.events if k == kind}
        if results == {"sent"}:  # the dialect's answer does not say: compare the sums
            sent = ledger.events[kind, "sent"]
            yield Check(
                f"{name}{{dialect={dialect},type={kind}}} (every result)",
                sent,
                _delta(before, after, name, dialect=dialect, type=kind),
            )
            continue
        for result in sorted(results):
            yield Check(
                f"{name}{{dialect={dialect},type={kind},result={result}}}",
                ledger.events[kind, result],
                _delta(before, after, name, dialect=dialect, type=kind, result=result),
            )
    yield Check(
        f"{name}{{dialect={dialect},result=rejected}}",
        0,
        _delta(before, after, name, dialect=dialect, result="rejected"),
    )
