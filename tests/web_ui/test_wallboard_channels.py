"""The wallboard's text channels in Chromium: per queue and channel the tasks waiting, the
oldest one's wait ticking, capacity in use, and the first response once an agent replied;
chats are named by their channel among the live calls and do not count as callers."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.conftest import AppClient
from tests.web_ui.conftest import Pages, issue_token
from tests.web_ui.test_live_pages import admin_headers, clock_seconds

pytestmark = pytest.mark.slow

NONE = "\u2013"  # the page's "no figure" dash
TICK_WAIT_MS = 12_000  # the outlook is published every 5 s while it changes


async def test_the_wallboard_shows_every_channel(live: AppClient, pages: Pages) -> None:
    admin = await admin_headers(live)
    body = {"name": "Ann", "skills": {}, "capacity": {"voice": 0, "chat": 2, "sms": 0, "email": 0}}
    assert (await live.put("/v1/agents/ann", json=body, headers=admin)).status == 201
    presence = {"presence": "available"}
    assert (await live.post("/v1/agents/ann/presence", json=presence, headers=admin)).status == 200
    ids = []
    for n, sender in enumerate(("<b>Pat</b>", "+15550001111", "+15550002222")):
        task = {"channel": "chat", "from": sender, "body": f"question {n}"}
        answer = await live.post("/v1/tasks", json=task, headers=admin)
        assert answer.status == 201, await answer.text()
        ids.append((await answer.json())["task_id"])

    page = await pages.open(live, "/wallboard", await issue_token(live, "supervisor"))
    await expect(page.locator("#board")).to_have_attribute("aria-busy", "false")
    row = page.locator('#channel-rows tr[data-channel="general/chat"]')
    cells = row.locator("td")
    await expect(cells.nth(0)).to_have_text("Chat")
    await expect(cells.nth(1)).to_have_text("1")  # two offered to Ann, one waiting
    await expect(cells.nth(4)).to_have_text("2 of 2")
    await expect(cells.nth(4)).to_have_attribute("data-band", "poor")
    oldest = await cells.nth(2).inner_text()
    assert clock_seconds(oldest) >= 0
    await expect(cells.nth(2)).not_to_have_text(oldest)  # the oldest chat's wait ticks
    await expect(cells.nth(3)).to_have_text(NONE)  # nobody replied yet
    # chats are named among the live calls, with the sender as text; callers waiting: 0
    await expect(page.locator(f'tr[data-call="{ids[0]}"]')).to_contain_text("Ringing · chat")
    await expect(page.locator(f'tr[data-call="{ids[0]}"] th')).to_have_text("<b>Pat</b>")
    await expect(page.locator("#total-waiting")).to_have_text("0")
    await expect(page.locator('#agent-rows tr[data-agent="ann"]')).to_contain_text("2 chats")

    ann = {"Authorization": f"Bearer {await issue_token(live, 'agent:ann')}"}
    view = await (await live.get(f"/v1/tasks/{ids[0]}", headers=admin)).json()
    accept = f"/v1/reservations/{view['task']['reservation']['id']}/accept"
    assert (await live.post(accept, headers=ann)).status == 200
    reply = await live.post(f"/v1/tasks/{ids[0]}/messages", json={"body": "hi"}, headers=ann)
    assert reply.status == 201
    await expect(cells.nth(3)).not_to_have_text(NONE, timeout=TICK_WAIT_MS)

    # the conversation opens in the transcript panel; an angry message scores, raises the
    # phrase alert and shows up live
    await page.locator(f'tr[data-call="{ids[0]}"]').click()
    lines = page.locator("#transcript-lines li")
    await expect(lines).to_have_count(2)
    await expect(lines.nth(0)).to_contain_text("question 0")
    await expect(lines.nth(1)).to_contain_text("hi")
    angry = {"body": "This is useless, I want to cancel my account. Get me a supervisor!"}
    wrote = await live.post(f"/v1/tasks/{ids[0]}/messages", json=angry, headers=admin)
    assert wrote.status == 201
    await expect(lines).to_have_count(3)
    await expect(lines.nth(2)).to_have_attribute("data-label", "negative")
    await expect(page.locator("#alert-feed")).to_contain_text("cancel my account")
    await pages.shot(page, "channels")
