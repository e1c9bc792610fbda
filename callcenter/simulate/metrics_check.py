"""The server's own counts (Prometheus text from /metrics) against the simulator's: what
changed between a scrape before the run and one after must be exactly what the run did."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from callcenter.simulate.ledger import Ledger, Outcome

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
    by_queue: Counter[tuple[str, Outcome]] = Counter(
        (r.plan.queue, r.outcome) for r in records if r.outcome is not None
    )
    queues = sorted({r.plan.queue for r in records})
    for queue in queues:
        for outcome, label in ((Outcome.SERVED, "handled"), (Outcome.ABANDONED, "abandoned")):
            checks.append(
                Check(
                    f"callcenter_calls_total{{queue={queue},outcome={label}}}",
                    by_queue[queue, outcome],
                    _delta(before, after, "callcenter_calls_total", queue=queue, outcome=label),
                )
            )
        checks.append(
            Check(
                f"callcenter_queue_wait_seconds_count{{queue={queue}}}",
                by_queue[queue, Outcome.SERVED],
                _delta(before, after, "callcenter_queue_wait_seconds_count", queue=queue),
            )
        )
    checks.append(
        Check(
            "callcenter_calls_total{outcome=failed}",
            0,
            _delta(before, after, "callcenter_calls_total", outcome="failed"),
        )
    )
    checks.extend(_event_checks(before, after, ledger, dialect))
    checks.append(
        Check(
            "callcenter_alerts_total (all kinds)",
            sum(ledger.alerts.values()) + ledger.unknown_alerts,
            _delta(before, after, "callcenter_alerts_total"),
        )
    )
    return checks


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
