"""A real Prometheus server for tests (its own config, port and storage, on loopback), and
the metric names PromQL expressions use."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families

from callcenter.storage.embedded import free_port
from tests.observability.conftest import REPO

RULES = REPO / "deploy" / "prometheus" / "rules" / "callcenter.rules.yml"
START_TIMEOUT_SECONDS = 15.0
QUERY_TIMEOUT_SECONDS = 20.0

RULE_FILES = sorted((REPO / "deploy" / "prometheus" / "rules").glob("*.yml"))


class Prometheus:
    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url
        self._session = session

    async def query(self, promql: str) -> list[dict[str, Any]]:
        async with self._session.get(
            f"{self.url}/api/v1/query", params={"query": promql}
        ) as response:
            answer = await response.json()
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    async def error_of(self, promql: str) -> str | None:
        """Prometheus's complaint about a query (None: it ran)."""
        async with self._session.get(
            f"{self.url}/api/v1/query", params={"query": promql}
        ) as response:
            answer = await response.json()
        return None if answer["status"] == "success" else str(answer.get("error"))

    async def wait_for(self, promql: str, expected: float) -> list[dict[str, Any]]:
        """Poll until the query returns exactly one sample equal to `expected`."""
        deadline = time.monotonic() + QUERY_TIMEOUT_SECONDS
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            result = await self.query(promql)
            if len(result) == 1 and float(result[0]["value"][1]) == expected:
                return result
            await asyncio.sleep(0.25)
        raise AssertionError(f"{promql} never became {expected}; last answer: {result}")


@contextlib.asynccontextmanager
async def prometheus_server(
    scratch: Path, targets: Sequence[str] = (), rules: Sequence[Path] = (RULES,)
) -> AsyncIterator[Prometheus]:
    """Prometheus scraping `targets` (job "callcenter") every second and evaluating `rules`
    every second; stopped when the context ends."""
    binary = shutil.which("prometheus")
    assert binary is not None, "prometheus (Debian package prometheus) is required"
    config = scratch / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {
                    "scrape_interval": "1s",
                    "scrape_timeout": "1s",
                    "evaluation_interval": "1s",
                },
                "rule_files": [str(path) for path in rules],
                "scrape_configs": [
                    {"job_name": "callcenter", "static_configs": [{"targets": list(targets)}]}
                ],
            }
        )
    )
    port = free_port()
    log = scratch / "prometheus.log"
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={scratch / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
            stdout=output,
            stderr=output,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            while True:
                assert process.returncode is None, log.read_text()
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{url}/-/ready") as response:
                        if response.status == 200:
                            break
                assert time.monotonic() < deadline, f"not ready:\n{log.read_text()}"
                await asyncio.sleep(0.1)
            yield Prometheus(url, session)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


# Names in PromQL: metric names and recording-rule names (level:metric:operations).
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("_sum", "_count", ""),
    "gauge": ("",),
    "info": ("_info",),
    "unknown": ("",),
}


def names_in(expression: str, prefixes: tuple[str, ...] = ("callcenter_", "process_")) -> set[str]:
    """The metric and recording-rule names an expression reads: names with `prefixes`,
    and every name with a colon (recording rules). Label values are skipped."""
    bare = _STRING.sub('""', expression)
    found: set[str] = set()
    for token in _NAME.findall(bare):
        if ":" in token or token.startswith(prefixes):
            found.add(token)
    return found


def exposed_names(exposition: str) -> set[str]:
    """Every sample name the exposition's families can have, samples present or not."""
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names


def rule_groups(paths: Iterable[Path] = RULE_FILES) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for path in paths:
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules.extend(group["rules"])
    return rules


def recorded_names(paths: Iterable[Path] = RULE_FILES) -> set[str]:
    return {rule["record"] for rule in rule_groups(paths) if "record" in rule}
