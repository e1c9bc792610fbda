"""The agent desktop with several chats at once, in Chromium: three chat offers wait in
the conversations list (they never take over the screen), are accepted from it, messages
from the customers arrive live in the open conversation (and their typing), the agent
replies and resolves one with a disposition (it leaves the list); names and messages with
markup are shown as text."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.conftest import AppClient
from tests.web_ui.conftest import Pages, issue_token
from tests.web_ui.test_live_pages import admin_headers, open_agent_page

pytestmark = pytest.mark.slow

XSS = "<img src=x onerror=\"document.title='pwned'\">"


async def test_an_agent_works_three_chats_at_once(live: AppClient, pages: Pages) -> None:
    admin = await admin_headers(live)
    body = {"name": "Ann", "skills": {}, "capacity": {"voice": 1, "chat": 3}}
    assert (await live.put("/v1/agents/ann", json=body, headers=admin)).status == 201
    page = await open_agent_page(pages, live)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    available = page.get_by_role("button", name="Available")
    await available.click()
    await expect(available).to_have_attribute("aria-pressed", "true")

    earlier = {"channel": "chat", "from": "visitor-1", "body": "earlier question"}
    made = await live.post("/v1/tasks", json=earlier, headers=admin)
    assert made.status == 201  # Bo wrote before (and left before anyone answered)
    earlier_id = (await made.json())["task_id"]
    assert (
        await live.post(f"/v1/tasks/{earlier_id}/resolve", json={}, headers=admin)
    ).status == 200
    ids, tokens = [], []
    for n, name in enumerate((XSS, "Bo", "Cy")):
        task = {"channel": "chat", "from": f"visitor-{n}", "name": name, "body": f"hello {n}"}
        answer = await live.post("/v1/tasks", json=task, headers=admin)
        assert answer.status == 201, await answer.text()
        created = await answer.json()
        ids.append(created["task_id"])
        tokens.append(created["chat_token"])
    items = page.locator("#task-list li")
    await expect(items).to_have_count(3)
    await expect(page.locator("#pop")).to_be_hidden()  # chats wait in the list
    await expect(items.nth(0)).to_contain_text(XSS)  # the name is text, not markup
    for n in range(3):
        await items.nth(n).get_by_role("button", name="Accept").click()
    for task_id in ids:
        await expect(page.locator(f'#task-list li[data-task="{task_id}"]')).to_contain_text("Open")
    agent = await (await live.get("/v1/agents/ann", headers=admin)).json()
    assert agent["tasks"] == {task_id: "chat" for task_id in ids}

    await page.locator(f'#task-list li[data-task="{ids[1]}"] .task-open').click()
    # Bo's record across channels: the earlier chat we put there above
    await expect(page.locator("#conversation .customer li").first).to_contain_text("Chat ·")
    log = page.locator("#conversation ol.messages li")
    await expect(log).to_have_count(1)
    await expect(log.nth(0)).to_contain_text("hello 1")
    gateway = {"Authorization": f"Bearer {await issue_token(live, 'gateway')}"}
    for text in (XSS, "are you there?"):
        wrote = await live.post(
            f"/v1/tasks/{ids[1]}/messages", json={"body": text}, headers=gateway
        )
        assert wrote.status == 201
    await expect(log).to_have_count(3)
    await expect(log.nth(1).locator(".text")).to_have_text(XSS)
    # the scorer's own call: a plain question is neutral, whatever its small score
    await expect(log.nth(2).locator(".sentiment")).to_have_text(" (neutral)")
    # Bo types in the chat window: the open conversation says so
    typing = page.locator("#conversation p.typing")
    await expect(typing).to_have_text("")
    window = await live.ws_connect("/ws/chat")
    await window.send_json({"type": "auth", "token": tokens[1]})
    await window.send_json({"type": "typing"})
    await expect(typing).to_have_text("The customer is typing…")
    await window.send_json({"type": "message", "body": "one more thing"})
    await expect(log).to_have_count(4)
    await expect(typing).to_have_text("")  # the message came: no longer typing
    await window.close()
    await page.locator("#reply-body").fill("Yes, here! Checking now.")
    await page.locator("#reply-body").press("Enter")
    await expect(log).to_have_count(5)
    await expect(log.nth(4)).to_contain_text("You: Yes, here! Checking now.")
    # the customer on the other chat writes meanwhile: counted as new in the list
    wrote = await live.post(f"/v1/tasks/{ids[2]}/messages", json={"body": "hi?"}, headers=gateway)
    assert wrote.status == 201
    await expect(page.locator(f'#task-list li[data-task="{ids[2]}"]')).to_contain_text("1 new")
    await expect(page.locator("#status-line")).not_to_contain_text("not loaded")
    await pages.shot(page, "conversations")

    await page.locator("#task-disposition").fill("answered")
    await page.get_by_role("button", name="Resolve").click()
    await expect(items).to_have_count(2)
    view = await (await live.get(f"/v1/tasks/{ids[1]}", headers=admin)).json()
    assert (view["task"]["state"], view["task"]["outcome"]) == ("ended", "handled")
    assert [m["author"] for m in view["messages"]] == [*["customer"] * 4, "agent"]
    assert dialogs == [] and await page.title() != "pwned"
