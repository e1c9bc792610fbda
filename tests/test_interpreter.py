"""The GIL switch interval the server runs at: set while the application runs (so that a
worker thread's pure work hands the GIL back to the event loop within a millisecond), and
put back after."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from aiohttp import web

from callcenter.interpreter import GIL_SWITCH_SECONDS, switch_often
from tests.conftest import AppClient


@pytest.fixture
def python_default() -> Iterator[float]:
    """Python's own interval, whatever a test leaves."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    yield 0.005
    sys.setswitchinterval(before)


async def test_the_interval_is_the_servers_while_the_app_runs_and_as_before_after(
    python_default: float,
) -> None:
    app = web.Application()
    app.cleanup_ctx.append(switch_often)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_SECONDS)
    finally:
        await runner.cleanup()
    assert sys.getswitchinterval() == pytest.approx(python_default)


async def test_two_applications_at_once_keep_it_until_the_last_stops(
    python_default: float,
) -> None:
    runners = []
    for _ in range(2):
        app = web.Application()
        app.cleanup_ctx.append(switch_often)
        runners.append(web.AppRunner(app))
        await runners[-1].setup()
    first, second = runners
    await first.cleanup()
    assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_SECONDS)  # the second runs
    await second.cleanup()
    assert sys.getswitchinterval() == pytest.approx(python_default)


async def test_the_application_sets_it(python_default: float, client: AppClient) -> None:
    assert GIL_SWITCH_SECONDS < python_default
    assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_SECONDS)
