"""A reported defect: an agent desktop opened (or reloaded) during a call showed "No
routing explanation.". The snapshot now carries the call's kept decision, so the page shows
why the call came to this agent, as the live offer did; with the caller's earlier contacts
on every channel."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.conftest import AppClient
from tests.web_ui.conftest import Pages
from tests.web_ui.test_live_pages import (
    NUMBER,
    admin_headers,
    agent_with_a_known_caller,
    created,
    get_json,
    open_agent_page,
    post_events,
    until,
)

pytestmark = pytest.mark.slow


async def test_a_desktop_opened_mid_call_explains_the_call(live: AppClient, pages: Pages) -> None:
    admin = await admin_headers(live)
    await agent_with_a_known_caller(live, admin)
    chat = {"channel": "chat", "from": NUMBER, "body": "is my order on its way?"}
    opened = await live.post("/v1/tasks", json=chat, headers=admin)
    assert opened.status == 201  # Carol wrote earlier and left before anyone answered
    chat_id = (await opened.json())["task_id"]
    assert (await live.post(f"/v1/tasks/{chat_id}/resolve", json={}, headers=admin)).status == 200
    presence = {"presence": "available"}
    assert (await live.post("/v1/agents/ann/presence", json=presence, headers=admin)).status == 200
    await post_events(live, admin, created("c9", NUMBER))
    offered = await until(
        lambda: get_json(live, "/v1/calls/c9", admin), lambda c: c["state"] == "offered"
    )
    accept = f"/v1/reservations/{offered['reservation']['id']}/accept"
    assert (await live.post(accept, headers=admin)).status == 200
    routing = await get_json(live, "/v1/calls/c9/routing", admin)
    why = routing["last_decision"]["why"]

    page = await open_agent_page(pages, live)  # the desk opens while Ann is on the call
    await expect(page.locator("#route-why")).to_have_text(why)
    await page.reload()
    await expect(page.locator("#agent-main")).to_have_attribute("aria-busy", "false")
    await expect(page.locator("#route-why")).to_have_text(why)
    await expect(page.locator("#caller-name")).to_have_text("Carol")
    # her record across channels, newest first
    contacts = page.locator("#caller-contacts ol.contacts > li")
    await expect(contacts).to_have_count(2)
    await expect(contacts.nth(0)).to_contain_text("Chat ·")
    await expect(contacts.nth(0)).to_contain_text("abandoned")
    await expect(contacts.nth(0)).to_contain_text("customer: is my order on its way?")
    await expect(contacts.nth(1)).to_contain_text("Call ·")
    await expect(contacts.nth(1)).to_contain_text("agent zoe")
    await pages.shot(page, "reload")


async def test_a_chat_offer_pending_across_a_reload_says_why(live: AppClient, pages: Pages) -> None:
    admin = await admin_headers(live)
    await agent_with_a_known_caller(live, admin)
    presence = {"presence": "available"}
    assert (await live.post("/v1/agents/ann/presence", json=presence, headers=admin)).status == 200
    chat = {"channel": "chat", "from": NUMBER, "body": "where is my refund?"}
    opened = await live.post("/v1/tasks", json=chat, headers=admin)
    assert opened.status == 201
    chat_id = (await opened.json())["task_id"]
    await until(
        lambda: get_json(live, f"/v1/calls/{chat_id}", admin), lambda c: c["state"] == "offered"
    )
    routing = await get_json(live, f"/v1/calls/{chat_id}/routing", admin)
    why = routing["last_decision"]["why"]
    assert why

    page = await open_agent_page(pages, live)  # the offer was made before the page opened
    for attempt in ("opened", "reloaded"):
        item = page.locator(f'#task-list li[data-task="{chat_id}"]')
        await expect(item).to_contain_text("Offered")
        await item.locator(".task-open").click()
        await expect(page.locator("#conversation .routing .why")).to_have_text(why)
        await expect(page.locator("#conversation .routing > dl")).to_contain_text(
            "chat 0/3"
        )  # held when it was decided
        if attempt == "opened":
            await page.reload()
            await expect(page.locator("#agent-main")).to_have_attribute("aria-busy", "false")
    await (
        page.locator(f'#task-list li[data-task="{chat_id}"]')
        .get_by_role("button", name="Accept")
        .click()
    )
    await expect(page.locator(f'#task-list li[data-task="{chat_id}"]')).to_contain_text("Open")
    await expect(page.locator("#conversation .routing .why")).to_have_text(why)
    await pages.shot(page, "chat-offer-reload")
