"""The Grafana dashboards: valid JSON, unique panel ids, a Prometheus data-source variable,
and queries that Prometheus accepts over metrics the server really exposes (or that the
shipped recording rules record); the same for the rule files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import AppClient
from tests.observability.conftest import REPO, busy_contact_center, scrape
from tests.observability.prometheus import (
    RULE_FILES,
    exposed_names,
    names_in,
    prometheus_server,
    recorded_names,
    rule_groups,
)

DASHBOARDS = sorted((REPO / "dashboards").glob("*.json"))
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# Grafana's variables, as a query would see them with "All" selected
VARIABLES = {"$queue": ".*", "$instance": ".*", "$__rate_interval": "1m"}


def board(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows' nested panels included."""
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def expressions(dashboard: dict[str, Any]) -> list[str]:
    return [
        target["expr"]
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
        if "expr" in target
    ]


def variable_queries(dashboard: dict[str, Any]) -> list[str]:
    return [v["definition"] for v in dashboard["templating"]["list"] if v["type"] == "query"]


def test_the_four_dashboards() -> None:
    titles = {board(path)["title"] for path in DASHBOARDS}
    assert titles == {
        "Callcenter · Queues",
        "Callcenter · Agents",
        "Callcenter · Sentiment & speech",
        "Callcenter · Service health",
    }
    uids = [board(path)["uid"] for path in DASHBOARDS]
    assert len(set(uids)) == len(uids) == 4


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panel_ids_are_unique_and_panels_do_not_overlap(path: Path) -> None:
    every = panels(board(path))
    ids = [panel["id"] for panel in every]
    assert len(ids) == len(set(ids)), sorted(ids)
    taken: set[tuple[int, int]] = set()
    for panel in every:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_query_goes_to_the_datasource_variable(path: Path) -> None:
    dashboard = board(path)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name, variable in variables.items():
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE, name
    queried = [p for p in panels(dashboard) if p["type"] != "row"]
    assert queried
    for panel in queried:
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
            assert target["expr"].strip(), panel["title"]


def test_grafana_provisioning_loads_these_dashboards() -> None:
    provisioning = REPO / "deploy" / "grafana" / "provisioning"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "callcenter.yml").read_text())[
        "providers"
    ]
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["type"] == "prometheus"
    compose = yaml.safe_load((REPO / "deploy" / "docker-compose.yml").read_text())
    grafana = compose["services"]["grafana"]
    mounts = dict(volume.split(":")[:2] for volume in grafana["volumes"])
    assert mounts["../dashboards"] == provider["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    prometheus = compose["services"]["prometheus"]
    assert source["url"] == f"http://prometheus:{prometheus['ports'][0].split(':')[1]}"


async def test_every_metric_a_dashboard_or_rule_reads_is_exposed(
    client: AppClient, admin: dict[str, str], gateway: dict[str, str]
) -> None:
    await busy_contact_center(client, admin, gateway)
    known = exposed_names(await scrape(client)) | recorded_names()
    sources: dict[str, list[str]] = {}
    for path in DASHBOARDS:
        dashboard = board(path)
        sources[path.name] = expressions(dashboard) + variable_queries(dashboard)
    for path in RULE_FILES:
        sources[path.name] = [rule["expr"] for rule in rule_groups([path])]
    used: set[str] = set()
    for source, found in sources.items():
        names = set().union(*(names_in(expression) for expression in found))
        assert names, source
        assert names <= known, f"{source} reads what nothing exposes: {sorted(names - known)}"
        used |= names
    # and the check has teeth: the dashboards use the recording rules and raw metrics
    assert "queue:callcenter_service_level:ratio_rate5m" in used
    assert "callcenter_survey_csat_count" in used
    assert "process_resident_memory_bytes" in used


async def test_prometheus_accepts_every_dashboard_query(tmp_path: Path) -> None:
    async with prometheus_server(tmp_path, rules=RULE_FILES) as prometheus:
        assert await prometheus.error_of("sum(rate(") is not None  # it does complain
        for path in DASHBOARDS:
            for expression in expressions(board(path)):
                query = expression
                for variable, value in VARIABLES.items():
                    query = query.replace(variable, value)
                assert await prometheus.error_of(query) is None, (path.name, expression)
