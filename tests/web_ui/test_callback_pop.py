"""The agent page's screen pop of a callback, in Chromium against the real app: it says
it is a callback (whom to call, asked for when, waited so far, attempt n of m) beside the
caller's history and the routing explanation; accepting it starts the attempt, and an
attempt that cannot be placed frees the agent at once."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.conftest import AppClient
from tests.web_ui.conftest import Pages
from tests.web_ui.test_live_pages import (
    NUMBER,
    admin_headers,
    agent_with_a_known_caller,
    fact,
    get_json,
    open_agent_page,
    until,
)

pytestmark = pytest.mark.slow


async def test_the_pop_says_it_is_a_callback(live: AppClient, pages: Pages) -> None:
    admin = await admin_headers(live)
    await agent_with_a_known_caller(live, admin)
    made = await live.post(
        "/v1/callbacks", json={"number": NUMBER, "name": "Carol B."}, headers=admin
    )
    assert made.status == 201, await made.text()
    call_id = (await made.json())["call_id"]
    page = await open_agent_page(pages, live)
    await expect(page.locator("#pop")).to_be_hidden()

    await page.get_by_role("button", name="Available").click()
    await expect(page.locator("#pop-heading")).to_have_text("Incoming callback")
    await expect(page.locator("#callback-panel")).to_be_visible()
    await expect(page.locator('#callback-facts dt:text-is("Call back") + dd')).to_have_text(NUMBER)
    await expect(page.locator('#callback-facts dt:text-is("Asked for by") + dd')).to_have_text(
        "Carol B."
    )
    await expect(page.locator('#callback-facts dt:text-is("Attempt") + dd')).to_have_text("1 of 3")
    waited = page.locator('#callback-facts dt:text-is("Waited so far") + dd')
    await expect(waited).to_have_text(re.compile(r"\d"))
    await expect(page.locator('#callback-facts dt:text-is("Requested") + dd')).to_have_text(
        re.compile(r"\d{4}")
    )
    # the usual pop beside it: the caller's history and why the callback came here
    await expect(page.locator("#caller-name")).to_have_text("Carol")
    await expect(fact(page, "Total calls")).to_have_text("1")
    await expect(page.locator("#route-why")).to_have_text(re.compile(r"\w"))
    await pages.shot(page, "callback-pop")

    await page.get_by_role("button", name="Accept").click()
    # no gateway can place callbacks in this app: the attempt fails and frees the agent
    call = await until(
        lambda: get_json(live, f"/v1/calls/{call_id}", admin),
        lambda c: c["callback"].get("last_outcome") == "failed",
    )
    assert (call["state"], call["callback"]["attempts"]) == ("queued", 1)
    ann = await until(
        lambda: get_json(live, "/v1/agents/ann", admin), lambda a: a["activity"] == "idle"
    )
    assert ann["call_id"] is None
