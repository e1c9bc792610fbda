"""The Prometheus files under deploy/prometheus: promtool checks the configuration and the
rule files and runs the rule unit tests; every rule is covered by a unit test."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.observability.conftest import REPO
from tests.observability.prometheus import RULE_FILES, rule_groups

PROMETHEUS = REPO / "deploy" / "prometheus"
UNIT_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def test_promtool_checks_the_rule_files() -> None:
    assert len(RULE_FILES) == 2
    result = promtool("check", "rules", *RULE_FILES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == 2


def test_promtool_checks_the_compose_configuration() -> None:
    result = promtool("check", "config", PROMETHEUS / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 2 rule files found" in result.stdout


def test_the_rule_unit_tests_pass() -> None:
    assert len(UNIT_TESTS) == 4
    result = promtool("test", "rules", *UNIT_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(UNIT_TESTS)


def test_a_broken_expectation_fails_the_unit_tests(tmp_path: Path) -> None:
    """The unit tests compare values: a wrong one is caught."""
    broken = (PROMETHEUS / "tests" / "recording_test.yml").read_text()
    assert "value: 0.6" in broken
    broken = broken.replace("value: 0.6", "value: 0.7", 1)
    copy = tmp_path / "broken_test.yml"
    copy.write_text(broken.replace("../rules/", f"{PROMETHEUS}/rules/"))
    result = promtool("test", "rules", copy)
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr


def test_the_staffing_gap_is_needed_minus_staffed(tmp_path: Path) -> None:
    """The gap's unit test pins its sign: a queue with spare agents is below 0."""
    source = (PROMETHEUS / "tests" / "recording_test.yml").read_text()
    assert 'queue:callcenter_staffing_gap:max{queue="sales"}\'\n            value: -3' in source
    flipped = source.replace(
        'queue:callcenter_staffing_gap:max{queue="sales"}\'\n            value: -3',
        'queue:callcenter_staffing_gap:max{queue="sales"}\'\n            value: 3',
    )
    copy = tmp_path / "flipped_test.yml"
    copy.write_text(flipped.replace("../rules/", f"{PROMETHEUS}/rules/"))
    result = promtool("test", "rules", copy)
    assert result.returncode != 0
    assert "queue:callcenter_staffing_gap:max" in result.stdout + result.stderr


def test_every_rule_has_a_unit_test() -> None:
    tested_records: set[str] = set()
    tested_alerts: set[str] = set()
    for path in UNIT_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("promql_expr_test", []):
                tested_records.update(
                    rule["record"]
                    for rule in rule_groups()
                    if "record" in rule and rule["record"] in check["expr"]
                )
            tested_alerts.update(check["alertname"] for check in case.get("alert_rule_test", []))
    records = {rule["record"] for rule in rule_groups() if "record" in rule}
    alerts = {rule["alert"] for rule in rule_groups() if "alert" in rule}
    # recording rules used only as steps of others are covered through them
    steps = {
        "queue:callcenter_calls_offered:rate5m",
        "queue:callcenter_calls_offered:rate1h",
        "queue:callcenter_answered_within_threshold:rate5m",
        "queue:callcenter_answered_within_threshold:rate1h",
        "queue:callcenter_service_level_threshold_seconds:max",
        "callcenter:agents_busy:max",
        "callcenter:agents_staffed:max",
    }
    assert steps <= records
    assert records - steps <= tested_records, sorted(records - steps - tested_records)
    assert alerts <= tested_alerts, sorted(alerts - tested_alerts)
    assert {
        "CallcenterServiceLevelBelowTarget",
        "CallcenterLongestWaitOverThreshold",
        "CallcenterMoodAlertsSpike",
        "CallcenterAsrLagHigh",
        "CallcenterInstanceDown",
        "CallcenterRedisDown",
        "CallcenterInvariantRepaired",
    } == alerts
