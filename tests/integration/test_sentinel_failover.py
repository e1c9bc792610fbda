"""A Redis failover under a gateway's load, on a real primary, replica and three sentinels
with the app configured for Sentinel and one acknowledging replica: no acknowledged event
is lost, each is taken once, nothing but 503s (retried) is answered meanwhile, the events
flow again once the old primary rejoins as a replica, and the invariant sweep finds
nothing to repair."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.failover_driver import drive

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


async def test_nothing_acknowledged_is_lost_through_a_failover(tmp_path: Path) -> None:
    run = await drive(replicas=1, nodes=1, events=1200, senders=8, scratch=tmp_path)
    assert len(run.acknowledged) == 1200 == len(set(run.acknowledged))
    assert run.lost == 0
    assert run.other == []  # only 503s, each retried
    assert run.refused > 0 and run.outage > 0  # the failover did happen under the load
    assert run.repairs == []  # and left nothing for the invariant sweep to repair
