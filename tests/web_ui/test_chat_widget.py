"""The chat widget in Chromium, on the `/chat` demo page: a customer opens a chat (a wrong
phone number is named; a name full of markup is fine), an agent holding three chats at
once joins and answers it, the widget shows the agent joining, typing and replying, a
reload resumes the same chat with its history, and a resolved chat shows as closed.
Nothing a customer or an agent wrote runs as markup."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Locator, Page, expect

from tests.conftest import AppClient
from tests.web_ui.conftest import AiohttpClient, Pages, issue_token
from tests.web_ui.test_live_pages import admin_headers

pytestmark = pytest.mark.slow

XSS = "<img src=x onerror=alert(1)>"
SCREENSHOT = "/tmp/chat_widget.png"


async def shadow_images(page: Page) -> Any:
    return await page.evaluate(
        "document.getElementById('callcenter-chat').shadowRoot.querySelectorAll('img').length"
    )


async def held_tasks(live: AppClient, admin: dict[str, str], count: int, page: Page) -> list[str]:
    """The tasks Ann holds, once she holds `count`."""
    for _ in range(50):
        agent = await (await live.get("/v1/agents/ann", headers=admin)).json()
        if len(agent["tasks"]) == count:
            return list(agent["tasks"])
        await page.wait_for_timeout(100)
    raise AssertionError(f"Ann holds {agent['tasks']}")


async def start_chat(widget: Locator, pages: Pages, page: Page) -> None:
    await widget.get_by_role("button", name="Chat with us").click()
    await widget.get_by_label("Name").fill(XSS)
    await widget.get_by_label("Phone").fill("12345")
    await widget.get_by_label("How can we help?").fill(f"My order is late {XSS}")
    await widget.get_by_role("button", name="Start chat").click()
    await expect(widget.locator("p.problem")).to_contain_text("Phone: please use the international")
    await expect(widget.get_by_label("Phone")).to_have_attribute("aria-invalid", "true")
    await pages.shot(page, "intro")
    await widget.get_by_label("Phone").fill("+1 (555) 123-0000")  # spaces and dashes go
    await widget.get_by_role("button", name="Start chat").click()


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
    await start_chat(widget, pages, page)
    log = widget.locator("ol.log li")
    await expect(log).to_have_count(1)
    await expect(log.nth(0)).to_contain_text(f"My order is late {XSS}")
    await expect(widget.locator("p.status")).to_have_text("Waiting for an agent…")

    tasks = await held_tasks(live, admin, 3, page)
    ann = {"Authorization": f"Bearer {await issue_token(live, 'agent:ann')}"}
    mine = None
    for task_id in tasks:  # Ann accepts all three: she works them at once
        view = await (await live.get(f"/v1/tasks/{task_id}", headers=admin)).json()
        accept = f"/v1/reservations/{view['task']['reservation']['id']}/accept"
        assert (await live.post(accept, headers=ann)).status == 200
        if view["task"]["caller_key"] == "+15551230000":
            mine = task_id
    assert mine is not None
    assert (await (await live.get(f"/v1/tasks/{mine}", headers=admin)).json())["task"][
        "attributes"
    ]["name"] == XSS
    await expect(log.nth(1)).to_have_text("Ann joined the chat")
    await expect(widget.locator("p.status")).to_have_text("You're chatting with Ann.")

    assert (await live.post(f"/v1/tasks/{mine}/typing", headers=ann)).status == 204
    await expect(widget.locator("p.typing")).to_have_text("Ann is typing…")
    reply = {"body": f"Sorry {XSS}, it ships today."}
    assert (await live.post(f"/v1/tasks/{mine}/messages", json=reply, headers=ann)).status == 201
    await expect(log).to_have_count(3)
    await expect(log.nth(2).locator(".body")).to_have_text(f"Sorry {XSS}, it ships today.")
    await expect(log.nth(2)).to_have_class("agent")
    await expect(widget.locator("p.typing")).to_be_hidden()
    await widget.get_by_label("Message").fill("Thanks!")
    await widget.get_by_label("Message").press("Enter")
    await expect(log).to_have_count(4)
    await expect(log.nth(3)).to_have_class("customer")
    assert await shadow_images(page) == 0  # the markup is text: no element was made of it
    await page.screenshot(path=SCREENSHOT)
    shutil.copy(SCREENSHOT, await pages.shot(page, "widget"))

    await page.reload()  # the session resumes: the same chat, its history
    await expect(log).to_have_count(3)  # the messages (a note of the past is not repeated)
    await expect(log.nth(1).locator(".body")).to_have_text(f"Sorry {XSS}, it ships today.")
    await expect(widget.locator("p.status")).to_have_text("You're chatting with Ann.")
    view = await (await live.get(f"/v1/tasks/{mine}", headers=admin)).json()
    assert [m["body"] for m in view["messages"]][-1] == "Thanks!"

    assert (await live.post(f"/v1/tasks/{mine}/resolve", json={}, headers=ann)).status == 200
    await expect(widget.locator("p.status")).to_have_text("This chat is closed.")
    await expect(widget.get_by_label("Message")).to_be_hidden()
    await expect(widget.get_by_role("button", name="Start a new chat")).to_be_visible()
    assert dialogs == [] and await page.title() == "Chat with us"
    assert all(url.startswith(str(live.make_url("/"))) for url in pages.requested)  # no CDN


HOSTILE_SITE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Another shop</title>
<style>
  * {{ font-family: serif !important; letter-spacing: 0.3em; }}
  button {{ display: none !important; }}
  li, ol, p {{ display: none; }}
  label {{ visibility: hidden; }}
</style></head>
<body><h1>Another shop</h1><p>Our own page, styled our own way.</p>
<script src="{script}" data-queue="support" data-topic="from another site"></script>
</body></html>"""


async def test_the_widget_works_on_another_sites_page(
    live: AppClient, pages: Pages, aiohttp_client: AiohttpClient
) -> None:
    """Another origin (CORS on the session post), and a page whose styles would hide
    buttons, lists and labels: none of them reach into the widget."""
    html = HOSTILE_SITE.format(script=live.make_url("/chat/widget.js"))

    async def home(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    site = web.Application()
    site.router.add_get("/", home)
    other = await aiohttp_client(site)
    assert other.make_url("/").origin() != live.make_url("/").origin()
    admin = await admin_headers(live)
    body = {"name": "Bo", "skills": {}, "capacity": {"voice": 0, "chat": 3}}
    assert (await live.put("/v1/agents/bo", json=body, headers=admin)).status == 201
    presence = {"presence": "available"}
    assert (await live.post("/v1/agents/bo/presence", json=presence, headers=admin)).status == 200

    page = await pages.open(other, "/")
    widget = page.locator("#callcenter-chat")
    await widget.get_by_role("button", name="Chat with us").click()
    await expect(widget.get_by_label("How can we help?")).to_be_visible()
    await widget.get_by_label("How can we help?").fill("Hello from another site")
    await widget.get_by_role("button", name="Start chat").click()
    log = widget.locator("ol.log li")
    await expect(log).to_have_count(1)
    await expect(log.nth(0)).to_be_visible()
    await expect(log.nth(0)).to_have_css("letter-spacing", "normal")  # not the site's 0.3em

    agent = await (await live.get("/v1/agents/bo", headers=admin)).json()
    for _ in range(50):
        if agent["tasks"]:
            break
        await page.wait_for_timeout(100)
        agent = await (await live.get("/v1/agents/bo", headers=admin)).json()
    (task_id,) = agent["tasks"]
    view = await (await live.get(f"/v1/tasks/{task_id}", headers=admin)).json()
    assert view["task"]["conversation"]["subject"] == "from another site"
    bo = {"Authorization": f"Bearer {await issue_token(live, 'agent:bo')}"}
    accept = f"/v1/reservations/{view['task']['reservation']['id']}/accept"
    assert (await live.post(accept, headers=bo)).status == 200
    reply = {"body": "Hello! How can I help?"}
    assert (await live.post(f"/v1/tasks/{task_id}/messages", json=reply, headers=bo)).status == 201
    await expect(log.filter(has_text="Hello! How can I help?")).to_be_visible()
    await pages.shot(page, "another-site")
