"""Load and check a directory of routing rule files (`*.yaml`, `*.yml`).

Files are read in name order; their queues merge and their rules run in that order.
Every problem is reported as `file:line: message`; any problem means no rules."""

from __future__ import annotations

import hashlib
from pathlib import Path

from callcenter.domain.routing_rules import RoutingRules
from callcenter.errors import RulesInvalid
from callcenter.rules.alert_rules import build_alerts
from callcenter.rules.parsed_file import Problem, parse_file
from callcenter.rules.queue_configs import build_queues
from callcenter.rules.rule_list import build_rules


def rule_files(location: Path) -> list[Path]:
    """A file itself, or the `*.yaml`/`*.yml` files of a directory in name order."""
    if location.is_file():
        return [location]
    return sorted(p for p in location.glob("*") if p.suffix in (".yaml", ".yml"))


def load_rules(location: Path) -> RoutingRules:
    """Load a rule file or every rule file of a directory; raise RulesInvalid listing all
    problems (file:line: message)."""
    files = rule_files(location)
    if not files:
        raise _invalid([Problem(str(location), 0, "no *.yaml rule files here")])
    problems: list[Problem] = []
    parsed = [p for p in (parse_file(f, problems) for f in files) if p is not None]
    if problems:
        raise _invalid(problems)
    catalog = build_queues(parsed, problems)
    rules = build_rules(parsed, catalog, problems)
    alerts = build_alerts(parsed, problems)
    if problems:
        raise _invalid(problems)
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:12]
    # later files override earlier ones channel by channel
    offsets = {str(c): n for p in parsed for c, n in p.spec.channel_priority.items()}
    return RoutingRules(
        queues=catalog.queues,
        rules=rules,
        version=digest,
        alerts=alerts,
        channel_priority=offsets,
    )


def _invalid(problems: list[Problem]) -> RulesInvalid:
    return RulesInvalid([str(p) for p in problems])
