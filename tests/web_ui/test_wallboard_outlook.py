"""The wallboard's waits and staffing in Chromium: per queue the estimated wait the API
gives, callbacks waiting with the oldest one's wait ticking, agents needed against
staffed with the shortfall in words and colour, and the last hour charted by the page
(from the stored minute points), then moved on by the live `queue.outlook` events."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import expect

from callcenter.app_keys import REPOSITORIES
from callcenter.domain.calls import Call, Callback, CallState
from callcenter.domain.queue_outlook import OutlookPoint
from callcenter.storage.queue_activity import minute_of, minute_start
from tests.conftest import AppClient
from tests.polling import eventually
from tests.web.test_queues_api import event, one_call_handled_one_ringing_one_waiting, post, read
from tests.web_ui.conftest import Pages, issue_token
from tests.web_ui.test_live_pages import admin_headers, clock_seconds

pytestmark = pytest.mark.slow

HISTORY_MINUTES = 40
TICK_WAIT_MS = 12_000  # the outlook is published every 5 s while it changes


def duration(seconds: float) -> str:
    """As the page writes it: "4:00", "1:02:03"."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


async def a_callback_and_an_hour_of_history(live: AppClient) -> None:
    """A callback waiting in "general" since 5 minutes ago, and 40 minutes of points:
    callers waiting rising, service level falling, the queue going from spare to short."""
    repositories = live.app[REPOSITORIES]
    now = datetime.now(UTC)
    asked = now - timedelta(minutes=5)
    callback = Call(
        id="cb1",
        gateway_call_id="cb1",
        state=CallState.QUEUED,
        queue="general",
        created_at=asked,
        updated_at=asked,
        last_event_at=asked,
        queued_at=asked,
        callback=Callback(number="+15550002222", requested_at=asked, source="api"),
    )
    await repositories.calls.commit(None, callback, (), event_id=None, now=now)
    for age in range(HISTORY_MINUTES, 0, -1):
        at = now - timedelta(minutes=age)
        step = HISTORY_MINUTES - age
        point = OutlookPoint(
            minute=minute_start(minute_of(at)),
            waiting=step // 6,
            service_level=0.95 - step * 0.01,
            needed=1 + step // 12,
            staffed=2,
            gap=step // 12 - 1,
        )
        await repositories.queue_activity.save_points(at, {"general": point})


async def test_the_wallboard_shows_waits_and_staffing(live: AppClient, pages: Pages) -> None:
    admin = await admin_headers(live)
    await one_call_handled_one_ringing_one_waiting(live, admin)
    await a_callback_and_an_hour_of_history(live)

    async def staffing_counts_the_traffic() -> bool:  # written in batches of 50 ms
        return bool((await read(live, "/v1/queues/general", admin))["agents_needed"] >= 2)

    await eventually(staffing_counts_the_traffic)
    general = await read(live, "/v1/queues/general", admin)
    assert general["callbacks_waiting"] == 1 and general["agents_needed"] >= 2

    page = await pages.open(live, "/wallboard", await issue_token(live, "supervisor"))
    await expect(page.locator("#board")).to_have_attribute("aria-busy", "false")
    row = page.locator('#outlook-rows tr[data-outlook="general"]')
    cells = row.locator("td")
    # the snapshot has the board the last outlook tick kept; the next tick brings it here
    await expect(cells.nth(1)).to_have_text("1", timeout=TICK_WAIT_MS)  # callbacks
    await expect(cells.nth(0)).to_have_text(
        duration(general["estimated_wait_seconds"]), timeout=TICK_WAIT_MS
    )
    oldest = await cells.nth(2).inner_text()
    assert 5 * 60 <= clock_seconds(oldest) < 6 * 60
    await expect(cells.nth(2)).not_to_have_text(oldest)  # the oldest callback's wait ticks
    needed = general["agents_needed"]
    await expect(cells.nth(3)).to_have_text(f"{needed} / 1", timeout=TICK_WAIT_MS)
    await expect(cells.nth(4)).to_have_text(f"{needed - 1} short")
    await expect(cells.nth(4)).to_have_attribute("data-band", "poor")
    await expect(cells.nth(5)).to_have_text("0")  # ready
    # the callback among the live calls says what it is
    await expect(page.locator('tr[data-call="cb1"]')).to_contain_text("Waiting · callback")

    charts = row.locator("svg.chart")
    await expect(charts).to_have_count(3)
    waiting, level, gap = charts.nth(0), charts.nth(1), charts.nth(2)
    # 40 stored minutes and this one: one point per minute with figures
    await expect(waiting).to_have_attribute("data-points", str(HISTORY_MINUTES + 1))
    await expect(waiting).to_have_attribute(
        "aria-label", "Callers waiting, last hour: now 1, highest 6"
    )
    assert await waiting.locator("path.line").get_attribute("d")
    await expect(level.locator("line.reference")).to_have_count(1)
    await expect(level).to_have_attribute("aria-label", re.compile(r"target 80%$"))
    assert await gap.locator("rect.over").count() > 0  # the minutes the queue was short
    assert await gap.locator("rect.under").count() > 0  # ... and those it had spare agents
    await pages.shot(page, "outlook")
    panel = pages.folder / f"{pages.prefix}-outlook-panel.png"
    await page.locator("section.outlook").screenshot(path=panel)

    # a fourth caller: the next outlook tick moves the figures and the chart's last point
    await post(live, admin, event("call.created", "c4"))
    await expect(waiting).to_have_attribute(
        "aria-label", "Callers waiting, last hour: now 2, highest 6", timeout=TICK_WAIT_MS
    )
    later = await read(live, "/v1/queues/general", admin)
    assert later["estimated_wait_seconds"] > general["estimated_wait_seconds"]
    await expect(cells.nth(0)).to_have_text(duration(later["estimated_wait_seconds"]))
