"""Opening a web chat (`POST /v1/chat/sessions`): a session is a routed chat on the
customer's record, a bad field is a 422 naming it, new chats per address are limited and
counted, any site may call it (CORS) and load the widget; the session's token is refused
by the chat socket (4401) when forged, altered or expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from callcenter.domain import chat_tokens
from callcenter.settings import Settings
from callcenter.web.close_codes import CLOSE_NOT_FOUND, CLOSE_UNAUTHORIZED
from tests.conftest import AppClient
from tests.web.chat_client import (
    PER_MINUTE,
    SECRET,
    XSS,
    chat_settings,
    chat_socket,
    open_chat,
    refused,
    rejections,
    task_view,
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return chat_settings(settings)


async def test_a_session_opens_a_routed_chat_on_the_customers_record(
    client: AppClient, admin: dict[str, str]
) -> None:
    before = datetime.now(UTC)
    session = await open_chat(
        client,
        name=XSS,
        email="pat@example.com",
        phone="+15551230000",
        queue="support",
        topic="A late order",
        message="Hi, my order is late",
    )
    assert set(session) == {"task_id", "token", "expires_at"}
    expires = datetime.fromisoformat(session["expires_at"])
    assert timedelta(hours=23) < expires - before <= timedelta(hours=24, seconds=5)
    view = await task_view(client, session["task_id"], admin)
    task = view["task"]
    assert (task["channel"], task["queue"], task["caller_key"]) == (
        "chat",
        "support",
        "+15551230000",
    )
    assert task["attributes"]["name"] == XSS  # kept as written; pages show it as text
    assert task["conversation"]["subject"] == "A late order"
    assert [m["body"] for m in view["messages"]] == ["Hi, my order is late"]
    caller = await (await client.get("/v1/callers/pat@example.com", headers=admin)).json()
    assert caller["key"] == "+15551230000"  # the email leads to the same customer

    # a later chat from the same number, or from the email alone, lands on that record
    by_phone = await open_chat(client, phone="+15551230000", message="me again")
    by_email = await open_chat(client, email="pat@example.com")
    for again in (by_phone, by_email):
        assert (await task_view(client, again["task_id"], admin))["task"]["caller_key"] == (
            "+15551230000"
        )
    anonymous = await open_chat(client)
    key = (await task_view(client, anonymous["task_id"], admin))["task"]["caller_key"]
    assert key.startswith("chat-")


async def test_bad_fields_are_refused_naming_the_field(
    client: AppClient, admin: dict[str, str]
) -> None:
    cases = {
        "/email": {"email": "not an email"},
        "/phone": {"phone": "555-1234"},
        "/message": {"message": "x" * 4001},
        "/queue": {"queue": "no spaces allowed"},
    }
    for pointer, body in cases.items():
        answer = await client.post("/v1/chat/sessions", json=body)
        assert answer.status == 422, (body, await answer.text())
        assert answer.headers["Access-Control-Allow-Origin"] == "*"  # the widget reads why
        problem = await answer.json()
        assert problem["pointer"] == pointer, problem
    unknown = await client.post("/v1/chat/sessions", json={"colour": "blue"})
    assert unknown.status == 422 and "colour" in (await unknown.json())["detail"]
    assert rejections(client, "bad_start") == len(cases) + 1
    blank = await open_chat(client, message=" \n ")  # no first message, but a chat
    assert (await task_view(client, blank["task_id"], admin))["messages"] == []

    preflight = await client.options(
        "/v1/chat/sessions",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert preflight.headers["Access-Control-Allow-Methods"] == "POST"
    assert preflight.headers["Access-Control-Allow-Headers"] == "Content-Type"


async def test_new_chats_are_limited_per_address(
    client: AppClient, redis_client: aioredis.Redis
) -> None:
    for _ in range(PER_MINUTE):
        await open_chat(client)
    over = await client.post("/v1/chat/sessions", json={})
    assert over.status == 429
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    assert f"at most {PER_MINUTE} new chats a minute" in (await over.json())["detail"]
    assert rejections(client, "too_many_chats") == 1
    keys = [key async for key in redis_client.scan_iter("cc:chatstarts:*")]
    assert len(keys) == 1 and 0 < await redis_client.ttl(keys[0]) <= 60  # the count expires


async def test_forged_altered_and_expired_tokens_are_refused(client: AppClient) -> None:
    session = await open_chat(client)
    token, task_id = session["token"], session["task_id"]
    claim, _, signature = token.rpartition(".")
    other = "0" if signature[-1] != "0" else "1"
    past = datetime.now(UTC) - timedelta(seconds=1)
    bad = {
        "altered signature": claim + "." + signature[:-1] + other,
        "another chat": token.replace(task_id, "t-0000000000000000", 1),
        "longer life": token.replace(claim.split(".")[1], "9999999999", 1),
        "another key": chat_tokens.issue(b"not our key", task_id, past + timedelta(days=1)),
        "not a token": "hello",
    }
    for case, forged in bad.items():
        reason, code, said = await refused(await chat_socket(client, forged))
        assert code == CLOSE_UNAUTHORIZED, case
        assert reason == said and "not a chat session token" in reason, case
    expired = chat_tokens.issue(SECRET.encode(), task_id, past)
    reason, code, _ = await refused(await chat_socket(client, expired))
    assert (code, reason) == (CLOSE_UNAUTHORIZED, "the chat session has expired: start a new chat")
    assert rejections(client, "bad_token") == len(bad) + 1

    not_auth = await client.ws_connect("/ws/chat")
    await not_auth.send_json({"type": "message", "body": "hi"})
    reason, code, _ = await refused(not_auth)
    assert code == CLOSE_UNAUTHORIZED and "auth" in reason
    assert rejections(client, "no_auth") == 1

    gone = chat_tokens.issue(SECRET.encode(), "t-gone", past + timedelta(days=1))
    reason, code, _ = await refused(await chat_socket(client, gone))
    assert (code, reason) == (CLOSE_NOT_FOUND, "chat t-gone is gone: start a new one")


async def test_the_widget_is_served_for_any_site(client: AppClient) -> None:
    for path, media_type, needle in (
        ("/chat/widget.js", "text/javascript", "/v1/chat/sessions"),
        ("/chat/widget.css", "text/css", ":host"),
    ):
        answer = await client.get(path)
        assert (answer.status, answer.content_type, answer.charset) == (200, media_type, "utf-8")
        assert needle in await answer.text()
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
        assert answer.headers["Cache-Control"] == "no-cache"
        again = await client.get(path, headers={"If-None-Match": answer.headers["ETag"]})
        assert again.status == 304 and await again.read() == b""
    page = await client.get("/chat")
    assert page.status == 200 and '<script src="/chat/widget.js"' in await page.text()
    policy = page.headers["Content-Security-Policy"]
    for allowed in ("script-src 'self'", "style-src 'self'", "connect-src 'self'"):
        assert allowed in policy  # the widget, its style sheet, its session post and socket
