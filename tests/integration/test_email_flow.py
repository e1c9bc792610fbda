"""Email end to end: Mailgun route posts (signed as Mailgun signs them: hex HMAC-SHA256 of
timestamp + token) open an email conversation routed to an agent; the agent's reply goes out
through a real SMTP server on loopback (aiosmtpd) with the threading headers; the customer's
answer threads back into the same task; redeliveries, forgeries and bad fields are
refused or taken once."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from callcenter.app import create_app
from callcenter.settings import Secret, Settings
from callcenter.simulate.server_command import free_port
from callcenter.web.state import SERVICES
from tests.conftest import AppClient
from tests.polling import eventually

KEY = "mailgun-signing-key"
CUSTOMER = "pat@example.com"
SUPPORT = "support@shop.example"
Json = dict[str, Any]


class Mailbox:
    """aiosmtpd's handler: keeps every message; answers `refuse` once when set."""

    def __init__(self) -> None:
        self.received: list[Message] = []
        self.refuse: str | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse is not None:
            answer, self.refuse = self.refuse, None
            return answer
        assert isinstance(envelope.content, bytes)
        self.received.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def signed(form: dict[str, str], *, token: str | None = None, key: str = KEY) -> dict[str, str]:
    timestamp = str(int(time.time()))
    token = token or secrets.token_hex(25)
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {**form, "timestamp": timestamp, "token": token, "signature": signature}


def email(message_id: str, body: str, **headers: str) -> dict[str, str]:
    return {
        "sender": CUSTOMER,
        "from": f"Pat Doe <{CUSTOMER}>",
        "recipient": SUPPORT,
        "subject": "Order 1234",
        "body-plain": body + "\n\n> quoted history",
        "stripped-text": body,
        "Message-Id": message_id,
        **headers,
    }


@pytest.fixture
async def desk(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: object,
    mailbox: tuple[Mailbox, int],
) -> tuple[AppClient, dict[str, str], dict[str, str]]:
    configured = dataclasses.replace(
        settings,
        mailgun_signing_key=Secret(KEY),
        smtp_host="127.0.0.1",
        smtp_port=mailbox[1],
        smtp_starttls=False,
        email_from=SUPPORT,
    )
    client = await aiohttp_client(create_app(configured))
    auth = client.app[SERVICES].auth
    admin = {"Authorization": f"Bearer {(await auth.create_token('admin', 't'))[0]}"}
    ann = {"Authorization": f"Bearer {(await auth.create_token('agent:ann', 't'))[0]}"}
    body = {"name": "Ann", "skills": {}, "capacity": {"email": 2}}
    assert (await client.put("/v1/agents/ann", json=body, headers=admin)).status == 201
    presence = {"presence": "available"}
    assert (
        await client.post("/v1/agents/ann/presence", json=presence, headers=admin)
    ).status == 200
    return client, admin, ann


async def post(client: AppClient, form: dict[str, str], expect: int = 204) -> str:
    answer = await client.post("/gateways/mailgun/inbound", data=form)
    text = await answer.text()
    assert answer.status == expect, text
    return text


async def held_task(client: AppClient, admin: dict[str, str]) -> Json:
    async def held() -> bool:
        agent = await (await client.get("/v1/agents/ann", headers=admin)).json()
        return bool(agent["tasks"])

    await eventually(held)
    agent = await (await client.get("/v1/agents/ann", headers=admin)).json()
    task_id = next(iter(agent["tasks"]))
    view: Json = await (await client.get(f"/v1/tasks/{task_id}", headers=admin)).json()
    return view


async def test_an_email_is_answered_by_smtp_and_the_answer_threads_back(
    desk: tuple[AppClient, dict[str, str], dict[str, str]], mailbox: tuple[Mailbox, int]
) -> None:
    client, admin, ann = desk
    box = mailbox[0]
    await post(client, signed(email("<m1@example.com>", "Where is my parcel?")))
    view = await held_task(client, admin)
    task = view["task"]
    assert (task["channel"], task["conversation"]["subject"]) == ("email", "Order 1234")
    assert view["messages"][0]["body"] == "Where is my parcel?"  # the quoted history left out
    assert task["attributes"]["name"] == "Pat Doe"
    accept = f"/v1/reservations/{task['reservation']['id']}/accept"
    assert (await client.post(accept, headers=ann)).status == 200

    reply = {"body": "It ships tomorrow. Sorry for the wait! — Ann"}
    answer = await client.post(f"/v1/tasks/{task['id']}/messages", json=reply, headers=ann)
    assert answer.status == 201, await answer.text()
    (sent,) = box.received
    assert (sent["From"], sent["To"], sent["Subject"]) == (SUPPORT, CUSTOMER, "Re: Order 1234")
    assert sent["In-Reply-To"] == "<m1@example.com>"
    assert sent["References"] == "<m1@example.com>"
    assert sent.get_content_charset() == "utf-8"
    payload = sent.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert "Sorry for the wait! — Ann" in payload.decode()
    ours = sent["Message-ID"]
    assert ours.endswith("@" + SUPPORT.partition("@")[2] + ">")  # the domain written to

    # Pat answers our message (any client sets In-Reply-To): the same task
    answer_form = email(
        "<m2@example.com>",
        "Thanks!",
        **{"In-Reply-To": ours, "References": f"<m1@example.com> {ours}"},
    )
    await post(client, signed(answer_form))
    await post(client, signed(answer_form))  # Mailgun delivers again, freshly signed: once
    view = await (await client.get(f"/v1/tasks/{task['id']}", headers=admin)).json()
    assert [(m["author"], m["body"]) for m in view["messages"]] == [
        ("customer", "Where is my parcel?"),
        ("agent", "It ships tomorrow. Sorry for the wait! — Ann"),
        ("customer", "Thanks!"),
    ]

    box.refuse = "550 5.1.1 mailbox unavailable"
    refused = await client.post(
        f"/v1/tasks/{task['id']}/messages", json={"body": "one more"}, headers=ann
    )
    assert refused.status == 502
    assert "550" in (await refused.json())["detail"]
    view = await (await client.get(f"/v1/tasks/{task['id']}", headers=admin)).json()
    assert len(view["messages"]) == 3  # nothing stored for the refused reply


async def test_forged_replayed_and_malformed_posts_are_refused(
    desk: tuple[AppClient, dict[str, str], dict[str, str]],
) -> None:
    client = desk[0]
    form = email("<m9@example.com>", "hello")
    await post(client, signed(form, key="not-the-key"), 403)
    await post(client, form, 403)  # unsigned
    once = signed(form, token="t" * 50)
    await post(client, once)
    await post(client, once, 403)  # the same token again: a replay
    missing = await post(
        client, signed({**email("<m8@example.com>", "x"), "sender": "nobody", "from": "?"}), 422
    )
    assert '"pointer":"/from"' in missing.replace(" ", "")
    metrics = await (await client.get("/metrics")).text()
    assert 'callcenter_auth_failures_total{reason="mailgun_signature"} 3.0' in metrics
