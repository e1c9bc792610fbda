"""The chat widget in Chromium, on the `/chat` demo page: a customer starts a chat (with a
name full of markup), an agent holding three chats at once answers it, the answer shows in
the widget, a reload resumes the same chat with its history, and nothing a customer or an
agent wrote runs as markup."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.conftest import AppClient
from tests.web_ui.conftest import Pages, issue_token
from tests.web_ui.test_live_pages import admin_headers

pytestmark = pytest.mark.slow

XSS = "<img src=x onerror=\"document.title='pwned'\">"


async def test_a_customer_chats_in_the_widget(live: AppClient, pages: Pages) -> None:
    admin = await admin_headers(live)
    body = {"name": "Ann", "skills": {}, "capacity": {"voice": 0, "chat": 3}}
    assert (await live.put("/v1/agents/ann", json=body, headers=admin)).status == 201
    presence = {"presence": "available"}
    assert (await live.post("/v1/agents/ann/presence", json=presence, headers=admin)).status == 200
    for n in range(2):  # two other chats Ann holds at the same time
        task = {"channel": "chat", "from": f"visitor-{n}", "body": "hi"}
        assert (await live.post("/v1/tasks", json=task, headers=admin)).status == 201

    page = await pages.open(live, "/chat", None)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    widget = page.locator("#callcenter-chat")
    await widget.get_by_role("button", name="Chat with us").click()
    await widget.get_by_label("Name").fill(XSS)
    await widget.get_by_label("Phone").fill("+15551230000")
    await widget.get_by_label("How can we help?").fill(f"My order is late {XSS}")
    await widget.get_by_role("button", name="Start chat").click()
    log = widget.locator("ol.log li")
    await expect(log).to_have_count(1)
    await expect(log.nth(0)).to_contain_text(f"My order is late {XSS}")

    async def held() -> dict[str, str]:
        agent = await (await live.get("/v1/agents/ann", headers=admin)).json()
        return dict(agent["tasks"])

    tasks = await held()
    for _ in range(50):
        if len(tasks) == 3:
            break
        await page.wait_for_timeout(100)
        tasks = await held()
    assert len(tasks) == 3  # Ann holds three chats at once
    ann = {"Authorization": f"Bearer {await issue_token(live, 'agent:ann')}"}
    mine = None
    for task_id in tasks:
        view = await (await live.get(f"/v1/tasks/{task_id}", headers=admin)).json()
        accept = f"/v1/reservations/{view['task']['reservation']['id']}/accept"
        assert (await live.post(accept, headers=ann)).status == 200
        if view["task"]["caller_key"] == "+15551230000":
            mine = task_id
    assert mine is not None
    await expect(widget.locator("p.status")).to_have_text("An agent is with you.")
    typed = await live.post(f"/v1/tasks/{mine}/typing", headers=ann)
    assert typed.status == 204
    await expect(widget.locator("p.typing")).to_be_visible()
    reply = {"body": f"Sorry {XSS}, it ships today."}
    assert (await live.post(f"/v1/tasks/{mine}/messages", json=reply, headers=ann)).status == 201
    await expect(log).to_have_count(2)
    await expect(log.nth(1)).to_contain_text(f"Agent: Sorry {XSS}, it ships today.")
    await widget.get_by_label("Message").fill("Thanks!")
    await widget.get_by_label("Message").press("Enter")
    await expect(log).to_have_count(3)
    await pages.shot(page, "widget")

    await page.reload()  # the session resumes: the same chat, its history
    await expect(widget.locator("ol.log li")).to_have_count(3)
    view = await (await live.get(f"/v1/tasks/{mine}", headers=admin)).json()
    assert [m["body"] for m in view["messages"]][-1] == "Thanks!"
    assert dialogs == [] and await page.title() != "pwned"
