"""The wallboard and the agent page in Chromium against the real app: events posted to the
API reach the wallboard (waiting calls, a ticking longest wait, alerts acknowledged from
the keyboard, a call's live transcript); an agent gets a screen pop with the caller's
history, accepts, sees the transcript and wraps up into the caller's history; a pop made
on one instance reaches a page on another; pages resume after a dropped socket; every
control has a name and an offer can be accepted with the keyboard alone."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from playwright.async_api import Locator, Page, WebSocket, expect

from callcenter.media.frames import Track
from callcenter.speech.engines import Final, Word
from callcenter.web.state import LIVE_SOCKETS, MONITOR
from tests.conftest import AppClient
from tests.web_ui.conftest import Pages, issue_token

pytestmark = pytest.mark.slow

NUMBER = "+15551230000"
PROFILE: dict[str, Any] = {
    "name": "Carol",
    "tier": "vip",
    "tags": ["churn-risk"],
    "account": {"id": "A-1", "plan": "gold"},
}
SECONDS = 5
POLL = 0.05
MINUS = "\u2212"  # the pages sign negative moods with a real minus sign
Json = dict[str, Any]
Headers = dict[str, str]

# every form control (hidden ones too) whose accessible name would be empty
UNNAMED_CONTROLS = """() => [...document.querySelectorAll("input, select, textarea, button")]
  .filter((el) => el.type !== "hidden")
  .filter((el) => !(el.labels && el.labels.length)
    && !el.getAttribute("aria-label")
    && !(el.getAttribute("aria-labelledby") || "").split(" ").some(
      (id) => id && (document.getElementById(id)?.textContent || "").trim())
    && !(el.tagName === "BUTTON" && el.textContent.trim()))
  .map((el) => el.outerHTML)"""


def final(text: str, start: float, end: float) -> Final:
    words = text.split()
    step = (end - start) / len(words)
    timed = tuple(
        Word(word, start + i * step, start + (i + 1) * step, 1.0) for i, word in enumerate(words)
    )
    return Final(text, timed, start)


def created(call_id: str, number: str) -> Json:
    return {"type": "call.created", "event_id": f"{call_id}-c", "call_id": call_id, "from": number}


async def post_events(client: AppClient, headers: Headers, *events: Json) -> None:
    response = await client.post("/v1/events", json=list(events), headers=headers)
    assert response.status == 200, await response.text()


async def get_json(client: AppClient, path: str, headers: Headers) -> Json:
    response = await client.get(path, headers=headers)
    assert response.status == 200, await response.text()
    document: Json = await response.json()
    return document


async def until(fetch: Callable[[], Awaitable[Json]], done: Callable[[Json], bool]) -> Json:
    """Poll the API until `done` holds (a generous deadline; no timing is asserted)."""
    for _ in range(int(SECONDS / POLL)):
        value = await fetch()
        if done(value):
            return value
        await asyncio.sleep(POLL)
    raise AssertionError(f"condition not reached; last value: {value}")


async def tab_to(page: Page, target: Locator, limit: int = 40) -> None:
    """Press Tab until `target` has the focus (fails if it never gets it)."""
    for _ in range(limit):
        if await target.evaluate("(el) => el === document.activeElement"):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"{target} never got the focus in {limit} tabs")


def clock_seconds(text: str) -> int:
    """ "1:05" → 65, "1:02:03" → 3723."""
    total = 0
    for part in text.strip().split(":"):
        total = total * 60 + int(part)
    return total


async def admin_headers(client: AppClient) -> Headers:
    return {"Authorization": f"Bearer {await issue_token(client, 'admin')}"}


async def agent_with_a_known_caller(client: AppClient, admin: Headers) -> None:
    """Agent "ann" (offline, no skills) and caller NUMBER with a profile and one past call."""
    put = await client.put("/v1/agents/ann", json={"name": "Ann", "skills": {}}, headers=admin)
    assert put.status in (200, 201), await put.text()
    put = await client.put(f"/v1/callers/{NUMBER}", json=PROFILE, headers=admin)
    assert put.status == 200, await put.text()
    await post_events(
        client,
        admin,
        created("past", NUMBER),
        {"type": "call.answered", "event_id": "past-a", "call_id": "past", "agent_id": "zoe"},
        {"type": "call.ended", "event_id": "past-e", "call_id": "past"},
    )


async def open_agent_page(pages: Pages, client: AppClient) -> Page:
    page = await pages.open(client, "/agent", await issue_token(client, "agent:ann"))
    await expect(page.locator("#agent-main")).to_have_attribute("aria-busy", "false")
    await expect(page.get_by_role("heading", name="Agent: Ann")).to_be_visible()
    return page


def fact(page: Page, term: str) -> Locator:
    """The value next to `term` in the screen pop's caller facts."""
    return page.locator(f'#caller-facts dt:text-is("{term}") + dd')


async def test_events_reach_the_wallboard(live: AppClient, pages: Pages) -> None:
    admin = await admin_headers(live)
    page = await pages.open(live, "/wallboard", await issue_token(live, "supervisor"))
    await expect(page.locator("#board")).to_have_attribute("aria-busy", "false")
    assert "token" not in page.url  # taken from the fragment, then dropped

    await post_events(live, admin, created("c1", NUMBER), created("c2", "+15557654321"))
    queue = page.locator('#queue-rows tr[data-queue="general"] td')
    await expect(queue.nth(0)).to_have_text("2")
    await expect(page.locator("#call-rows tr")).to_have_count(2)
    await expect(page.locator("#total-waiting")).to_have_text("2")
    shown = await queue.nth(1).inner_text()
    await expect(queue.nth(1)).not_to_have_text(shown)  # the longest wait ticks on
    assert clock_seconds(await queue.nth(1).inner_text()) > clock_seconds(shown)

    monitor = live.app[MONITOR]
    monitor.open_leg("c1", Track.CALLER, 8000)
    monitor.on_result("c1", Track.CALLER, final("get me a supervisor right now", 0.0, 2.5))
    alert = page.locator("#alert-feed li", has_text='caller said "supervisor"')
    await expect(alert).to_be_visible()
    await expect(alert.locator(".severity")).to_have_text("CRITICAL")
    await expect(page.locator("#announcer")).to_contain_text("supervisor")
    await pages.shot(page, "alert")

    await tab_to(page, alert.get_by_role("button", name=re.compile("^Acknowledge")))
    await page.keyboard.press("Enter")
    await expect(alert).to_have_attribute("data-acked", "yes")
    await expect(alert).to_contain_text("Acknowledged by supervisor")
    listed = await get_json(live, "/v1/alerts", admin)
    assert [a["acked"] for a in listed["alerts"] if a["call_id"] == "c1"] == [True]

    # a call row opens the call's live transcript from the keyboard
    row = page.locator('#call-rows tr[data-call="c1"]')
    await tab_to(page, row)
    await page.keyboard.press("Enter")
    panel = page.locator("#transcript-panel")
    await expect(panel).to_be_visible()
    line = panel.locator("#transcript-lines li").first
    await expect(line).to_contain_text("get me a supervisor right now")
    await expect(line.locator(".sentiment")).to_have_text(
        re.compile(rf"\((\+|{MINUS}|±)\d\.\d\d \w+\)")
    )
    monitor.on_result("c1", Track.CALLER, final("this is terrible service", 3.0, 5.0))
    await expect(panel.locator("#transcript-lines li")).to_have_count(2)
    await expect(panel.locator("#transcript-lines li").nth(1)).to_have_attribute(
        "data-label", "negative"
    )
    await expect(page.locator('#call-rows tr[data-call="c1"] td.mood').first).to_have_text(
        re.compile(rf"^{MINUS}\d\.\d\d [↑→↓]$")
    )
    await pages.shot(page, "transcript")
    await monitor.drain()


async def test_the_wallboard_resumes_after_a_dropped_socket(live: AppClient, pages: Pages) -> None:
    admin = await admin_headers(live)
    token = await issue_token(live, "supervisor")
    sent: list[Json] = []
    received: list[list[Json]] = []  # per socket, in the order they were opened
    urls: list[str] = []

    def on_socket(socket: WebSocket) -> None:
        urls.append(socket.url)
        frames: list[Json] = []
        received.append(frames)
        socket.on("framesent", lambda frame: sent.append(json.loads(frame)))
        socket.on("framereceived", lambda frame: frames.append(json.loads(frame)))

    page = await pages.open(live, "/wallboard", token, on_socket=on_socket)
    await expect(page.locator("#board")).to_have_attribute("aria-busy", "false")
    await post_events(live, admin, created("r1", NUMBER))
    await expect(page.locator('#call-rows tr[data-call="r1"]')).to_be_visible()

    sockets = live.app[LIVE_SOCKETS]
    for socket in list(sockets):
        await socket.close(code=1012, message=b"restarting")
    await post_events(live, admin, created("r2", "+15557654321"))
    await expect(page.locator('#call-rows tr[data-call="r2"]')).to_be_visible()
    auths = [frame for frame in sent if frame.get("type") == "auth"]
    assert len(auths) == 2 and auths[0]["since"] is None
    assert isinstance(auths[1]["since"], int) and auths[1]["since"] > 0
    assert [f.get("type") for f in received[0]][:1] == ["snapshot"]
    assert "snapshot" not in [f.get("type") for f in received[1]]  # resumed: only the gap
    assert all(frame["token"] == token for frame in auths)
    assert not any(token in url for url in urls + pages.requested)
    await expect(page.locator("#connection")).to_have_text("Live")
    await pages.shot(page, "resumed")


async def test_an_agent_gets_a_pop_accepts_and_wraps_up(live: AppClient, pages: Pages) -> None:
    admin = await admin_headers(live)
    await agent_with_a_known_caller(live, admin)
    page = await open_agent_page(pages, live)

    available = page.get_by_role("button", name="Available")
    await available.click()
    await expect(available).to_have_attribute("aria-pressed", "true")
    await post_events(live, admin, created("c9", NUMBER))

    pop = page.locator("#pop")
    await expect(pop).to_be_visible()
    await expect(page.locator("#caller-name")).to_have_text("Carol")
    await expect(fact(page, "Number")).to_have_text(NUMBER)
    await expect(fact(page, "Tier")).to_have_text("vip")
    await expect(fact(page, "Tags")).to_have_text("churn-risk")
    await expect(fact(page, "Total calls")).to_have_text("1")
    await expect(fact(page, "Last agent")).to_have_text("zoe")
    await expect(fact(page, "Repeat caller")).to_have_text(re.compile("^Yes"))
    await expect(page.locator('#caller-account dt:text-is("plan") + dd')).to_have_text("gold")
    await expect(page.locator("#route-why")).to_have_text(re.compile(r"\w"))
    await expect(page.locator("#countdown")).to_have_text(re.compile(r"^Expires in \d+ s$"))
    await expect(page.locator("#announcer")).to_contain_text("Incoming call from Carol")
    await pages.shot(page, "pop")

    await page.get_by_role("button", name="Accept").click()
    call = await until(
        lambda: get_json(live, "/v1/calls/c9", admin), lambda c: c["state"] == "connected"
    )
    assert call["agent_id"] == "ann"
    await expect(page.locator("#offer-actions")).to_be_hidden()

    monitor = live.app[MONITOR]
    monitor.open_leg("c9", Track.CALLER, 8000)
    monitor.on_result("c9", Track.CALLER, final("thank you so much that is great", 0.0, 3.0))
    line = page.locator("#transcript-lines li").first
    await expect(line).to_contain_text("thank you so much that is great")
    await expect(line).to_have_attribute("data-label", "positive")
    await expect(page.locator("#caller-mood")).to_have_text(re.compile(r"^\+\d\.\d\d [↑→↓]$"))
    await monitor.drain()

    await post_events(live, admin, {"type": "call.ended", "event_id": "c9-e", "call_id": "c9"})
    form = page.locator("#wrap-up")
    await expect(form).to_be_visible()
    await page.get_by_label("Disposition").fill("resolved")
    await page.get_by_label("Notes").fill("Refund issued; call back Monday.")
    await pages.shot(page, "wrap-up")
    await page.get_by_role("button", name="Save wrap-up").click()
    await expect(page.locator("#status-line")).to_have_text("Wrap-up saved.")
    caller = await get_json(live, f"/v1/callers/{NUMBER}", admin)
    latest = caller["history"]["recent"][0]
    assert (latest["call_id"], latest["disposition"], latest["notes"]) == (
        "c9",
        "resolved",
        "Refund issued; call back Monday.",
    )

    await page.get_by_role("button", name="Wrap-up done").click()
    await expect(form).to_be_hidden()
    ann = await get_json(live, "/v1/agents/ann", admin)
    assert (ann["activity"], ann["call_id"]) == ("idle", None)


async def test_a_pop_reaches_a_page_on_the_other_instance(
    two_instances: tuple[AppClient, AppClient], pages: Pages
) -> None:
    live, other = two_instances
    admin = await admin_headers(live)
    await agent_with_a_known_caller(live, admin)
    page = await open_agent_page(pages, other)  # the page is on the other instance

    presence = await live.post(
        "/v1/agents/ann/presence", json={"presence": "available"}, headers=admin
    )
    assert presence.status == 200
    await expect(page.get_by_role("button", name="Available")).to_have_attribute(
        "aria-pressed", "true"
    )
    await post_events(live, admin, created("x1", NUMBER))  # routed on this instance
    await expect(page.locator("#caller-name")).to_have_text("Carol")
    await expect(fact(page, "Total calls")).to_have_text("1")
    await pages.shot(page, "pop")
    await page.get_by_role("button", name="Accept").click()
    await until(lambda: get_json(live, "/v1/calls/x1", admin), lambda c: c["state"] == "connected")


async def test_controls_are_named_and_an_offer_is_accepted_by_keyboard(
    live: AppClient, pages: Pages
) -> None:
    admin = await admin_headers(live)
    wallboard = await pages.open(live, "/wallboard", "not-a-token")
    token_field = wallboard.get_by_label("Access token")
    await expect(token_field).to_be_visible()  # refused (4401): asks instead of retrying
    await expect(wallboard.locator("#token-form [role=alert]")).to_contain_text("refused")
    await token_field.fill(await issue_token(live, "supervisor"))
    await token_field.press("Enter")
    await expect(wallboard.locator("#board")).to_have_attribute("aria-busy", "false")
    await expect(wallboard.get_by_label("Sort calls by")).to_be_visible()
    assert await wallboard.evaluate(UNNAMED_CONTROLS) == []
    await pages.shot(wallboard, "wallboard")

    await agent_with_a_known_caller(live, admin)
    agent = await open_agent_page(pages, live)
    assert await agent.evaluate(UNNAMED_CONTROLS) == []
    for name in ("Available", "Away", "Break", "Offline"):
        await expect(agent.get_by_role("button", name=name)).to_have_count(1)
    # the wrap-up form is hidden until a call ends; its fields are named all the same
    disposition = agent.get_by_role("combobox", name="Disposition", include_hidden=True)
    await expect(disposition).to_have_count(1)
    notes = agent.get_by_role("textbox", name="Notes", include_hidden=True)
    await expect(notes).to_have_count(1)

    await tab_to(agent, agent.get_by_role("button", name="Available"))
    await agent.keyboard.press("Enter")
    await expect(agent.get_by_role("button", name="Available")).to_have_attribute(
        "aria-pressed", "true"
    )
    await post_events(live, admin, created("k1", NUMBER))
    accept = agent.get_by_role("button", name="Accept")
    await expect(accept).to_be_visible()
    await expect(agent.locator("#announcer")).to_contain_text("Incoming call")
    assert await agent.evaluate(UNNAMED_CONTROLS) == []
    await pages.shot(agent, "offer")
    await tab_to(agent, accept)
    await agent.keyboard.press("Enter")
    await until(lambda: get_json(live, "/v1/calls/k1", admin), lambda c: c["state"] == "connected")
    await expect(agent.locator("#status-line")).to_contain_text("accepted")

    # an agent token on the wallboard is the wrong role (4403): the form comes back
    wrong = await pages.open(live, "/wallboard", await issue_token(live, "agent:ann"))
    await expect(wrong.get_by_label("Access token")).to_be_visible()
    await expect(wrong.locator("#token-form [role=alert]")).to_contain_text("may not")
