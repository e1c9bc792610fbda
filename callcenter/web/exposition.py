"""The Prometheus text exposition (format 0.0.4) of a registry, as prometheus_client's
`generate_latest` writes it but without the `_created` series (Prometheus would store each
as a gauge nobody reads) and at a fraction of the cost: a scrape renders thousands of
per-queue bucket lines whose name-and-labels prefixes are the same every time, so they are
rendered once and kept."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.utils import floatToGoString

CONTENT_TYPE = CONTENT_TYPE_LATEST
_INFINITY = float("inf")
PREFIXES_KEPT = 100_000  # label sets are bounded; this only guards against a mistake

_go_float: Callable[[float], str] = floatToGoString  # untyped in prometheus_client
_TYPES = {"info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram", "unknown": "untyped"}
_SUFFIXES = {"counter": "_total", "info": "_info"}

LabelKey = tuple[str, tuple[tuple[str, str], ...]]


def _number(value: float) -> str:
    """As the client library writes a value: Python's repr, except infinities, NaN and
    positive values from 1e6 up (Go-style exponents)."""
    if -_INFINITY < value < 1e6:  # NaN fails both comparisons
        return repr(float(value))
    return _go_float(value)


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _prefix(name: str, labels: dict[str, str]) -> str:
    if not labels:
        return name
    pairs = ",".join(f'{key}="{_escape(value)}"' for key, value in sorted(labels.items()))
    return f"{name}{{{pairs}}}"


class TextExposition:
    """Renders one registry. Safe to use from several threads (the prefix cache only ever
    gains entries that are the same whoever computes them)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry
        self._prefixes: dict[LabelKey, str] = {}

    def render(self) -> bytes:
        prefixes = self._prefixes
        if len(prefixes) > PREFIXES_KEPT:
            prefixes.clear()
        out: list[str] = []
        for family in self._registry.collect():
            exposed = family.name + _SUFFIXES.get(family.type, "")
            kind = _TYPES.get(family.type, family.type)
            documentation = family.documentation.replace("\\", r"\\").replace("\n", r"\n")
            out.append(f"# HELP {exposed} {documentation}\n# TYPE {exposed} {kind}\n")
            created = family.name + "_created"
            for sample in family.samples:
                if sample.name == created:
                    continue
                key = (sample.name, tuple(sample.labels.items()))
                prefix = prefixes.get(key)
                if prefix is None:
                    prefix = prefixes[key] = _prefix(sample.name, sample.labels)
                if sample.timestamp is None:
                    out.append(f"{prefix} {_number(sample.value)}\n")
                else:
                    milliseconds = int(float(sample.timestamp) * 1000)
                    out.append(f"{prefix} {_number(sample.value)} {milliseconds:d}\n")
        return "".join(out).encode()
