"""Durations in a scenario file: a number of seconds, or one distribution
(scenario_file.DistributionSpec), turned into a `Distribution`; a bad one is a problem at
its line."""

from __future__ import annotations

from callcenter.simulate.distributions import (
    Constant,
    Distribution,
    Exponential,
    Lognormal,
    Uniform,
)
from callcenter.simulate.scenario_file import DistributionSpec, Durations
from callcenter.simulate.scenario_problems import Located


def distribution(spec: Durations, doc: Located, *at: str | int) -> Distribution:
    """The distribution `spec` says; a mistake is noted in `doc` (a constant 0 stands in)."""
    if not isinstance(spec, DistributionSpec):
        return Constant(float(spec))
    given = [
        kind
        for kind in ("exponential", "uniform", "lognormal", "constant")
        if getattr(spec, kind) is not None
    ]
    if len(given) != 1:
        doc.problem(
            at,
            "a duration is a number of seconds or exactly one of exponential: {mean}, "
            "uniform: {low, high}, lognormal: {mean, sd}, constant: N"
            f" (has {len(given)})",
        )
        return Constant(0.0)
    if spec.exponential is not None:
        return Exponential(spec.exponential.mean)
    if spec.uniform is not None:
        if spec.uniform.low > spec.uniform.high:
            doc.problem((*at, "uniform"), "uniform needs low <= high")
        return Uniform(spec.uniform.low, spec.uniform.high)
    if spec.lognormal is not None:
        return Lognormal(spec.lognormal.mean, spec.lognormal.sd)
    assert spec.constant is not None
    return Constant(spec.constant)
