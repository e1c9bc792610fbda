"""Callbacks through Twilio, end to end on loopback: a caller on hold hears the offer,
presses 1, confirms the number and hangs up; an agent accepts the callback; the server
places exactly one Calls create with a fake Twilio REST API; the leg's status callbacks
(signed as Twilio's RequestValidator signs) drive the attempt to answered and wrap-up, or
to busy, a retry and a final failure. Every request to the server is signed with the
`twilio` library; Twilio itself is a small aiohttp server speaking its wire format."""

from __future__ import annotations

import base64
import dataclasses
import secrets
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from callcenter.app import create_app
from callcenter.settings import Secret, Settings
from callcenter.storage.embedded import free_port
from callcenter.web.state import SERVICES
from tests.conftest import FIXTURES, AppClient
from tests.media.twilio_peer import ACCOUNT, CALL_SID, TOKEN, call_form
from tests.polling import eventually

RULES = FIXTURES / "rules" / "twilio_callbacks"
ANNOUNCE_RULES = FIXTURES / "rules" / "twilio_announce"
CALLER = "+15551230000"  # call_form's From
OUR_NUMBER = "+15559870000"  # call_form's To: the caller id of the callback
Json = dict[str, Any]


class FakeTwilio:
    """Twilio's Calls resource on 127.0.0.1: creates (kept with every form field, repeated
    ones included) and updates."""

    def __init__(self) -> None:
        self.creates: list[list[tuple[str, str]]] = []
        self.legs: list[str] = []
        self.updates: list[Json] = []

    def _authorised(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    async def create(self, request: web.Request) -> web.Response:
        assert request.match_info["account"] == ACCOUNT and self._authorised(request)
        form = parse_qsl((await request.read()).decode(), keep_blank_values=True)
        self.creates.append(form)
        sid = "CA" + secrets.token_hex(16)
        self.legs.append(sid)
        fields = dict(form)
        return web.json_response(
            {
                "sid": sid,
                "account_sid": ACCOUNT,
                "status": "queued",
                "direction": "outbound-api",
                "to": fields["To"],
                "from": fields["From"],
                "parent_call_sid": None,
                "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{sid}.json",
            },
            status=201,
        )

    async def update(self, request: web.Request) -> web.Response:
        assert self._authorised(request)
        self.updates.append(dict(parse_qsl((await request.read()).decode())))
        sid = request.match_info["sid"]
        return web.json_response({"sid": sid, "account_sid": ACCOUNT, "status": "in-progress"})

    def create_form(self, index: int) -> Json:
        """One create's fields; StatusCallbackEvent as the list of its values."""
        form: Json = dict(self.creates[index])
        form["StatusCallbackEvent"] = [
            v for k, v in self.creates[index] if k == "StatusCallbackEvent"
        ]
        return form


@pytest.fixture
async def fake_twilio() -> AsyncIterator[tuple[FakeTwilio, str]]:
    fake = FakeTwilio()
    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{account}/Calls.json", fake.create)
    app.router.add_post("/2010-04-01/Accounts/{account}/Calls/{sid}.json", fake.update)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield fake, str(server.make_url("")).rstrip("/")
    await server.close()


class Twilio:
    """Twilio's side of the calls and the admin's API, against the app."""

    def __init__(self, client: AppClient, admin: dict[str, str]) -> None:
        self.client = client
        self.admin = admin

    def public(self, path: str) -> str:
        return str(self.client.make_url(path))

    async def post(self, url: str, form: dict[str, str], expect: int = 200) -> str:
        """POST `form` to one of our public URLs (path and query), signed for it."""
        assert url.startswith(self.public("/")), url
        signature = RequestValidator(TOKEN).compute_signature(url, form)
        path = url[len(self.public("/")) - 1 :]
        answer = await self.client.post(path, data=form, headers={"X-Twilio-Signature": signature})
        text = await answer.text()
        assert answer.status == expect, text
        return text

    async def get(self, path: str, expect: int = 200) -> Json:
        answer = await self.client.get(path, headers=self.admin)
        assert answer.status == expect, await answer.text()
        result: Json = await answer.json()
        return result

    async def agent(self, agent_id: str) -> None:
        put = await self.client.put(
            f"/v1/agents/{agent_id}", json={"name": agent_id, "skills": {}}, headers=self.admin
        )
        assert put.status in (200, 201), await put.text()
        presence = await self.client.post(
            f"/v1/agents/{agent_id}/presence", json={"presence": "available"}, headers=self.admin
        )
        assert presence.status == 200, await presence.text()

    async def accept_offer(self, call_id: str) -> Json:
        offered: Json = {}

        async def is_offered() -> bool:
            offered.update(await self.get(f"/v1/calls/{call_id}"))
            return bool(offered["state"] == "offered")

        await eventually(is_offered, seconds=10)
        reservation = offered["reservation"]["id"]
        answer = await self.client.post(
            f"/v1/reservations/{reservation}/accept", headers=self.admin
        )
        assert answer.status == 200, await answer.text()
        result: Json = await answer.json()
        return result

    async def take_callback(self) -> str:
        """The caller arrives, hears the offer, presses 1 and confirms the own number."""
        hold = await self.post(self.public("/gateways/twilio/voice"), call_form("ringing", "0"))
        offer = _gather(hold)
        assert offer.get("numDigits") == "1" and offer.get("input") == "dtmf"
        assert offer.get("action") == self.public("/gateways/twilio/callback/offer")
        confirm = await self.post(offer.attrib["action"], {**_form(), "Digits": "1"})
        prompt = _gather(confirm)
        assert "1 5 5 5 1 2 3 0 0 0 0" in _said(confirm)
        done = await self.post(prompt.attrib["action"], {**_form(), "Digits": "1"})
        return done

    async def leg_status(
        self, url: str, leg: str, status: str, sequence: int, expect: int = 204
    ) -> None:
        form = {
            "AccountSid": ACCOUNT,
            "ApiVersion": "2010-04-01",
            "CallSid": leg,
            "CallStatus": status,
            "Direction": "outbound-api",
            "From": OUR_NUMBER,
            "To": CALLER,
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(sequence),
            "Timestamp": format_datetime(datetime.now(UTC)),
        }
        await self.post(url, form, expect)


def _form() -> dict[str, str]:
    form = call_form("in-progress", "0")
    del form["SequenceNumber"]
    return form


def _gather(twiml: str) -> ET.Element:
    gather = ET.fromstring(twiml).find("Gather")
    assert gather is not None, twiml
    return gather


def _said(twiml: str) -> str:
    return " | ".join((say.text or "") for say in ET.fromstring(twiml).iter("Say"))


async def _twilio(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    api_url: str,
    rules: Path,
    *,
    public: bool = True,
) -> Twilio:
    port = free_port()
    configured = dataclasses.replace(
        settings,
        rules_dir=rules,
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=Secret(TOKEN),
        twilio_api_url=api_url,
        public_url=f"http://127.0.0.1:{port}" if public else None,
    )
    app = create_app(configured)
    client = await aiohttp_client(app, server_kwargs={"port": port})
    token, _ = await client.app[SERVICES].auth.create_token("admin", "t")
    return Twilio(client, {"Authorization": f"Bearer {token}"})


@pytest.fixture
async def twilio(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: object,
    fake_twilio: tuple[FakeTwilio, str],
) -> Twilio:
    """Callbacks offered at once, two attempts, a short retry pause."""
    return await _twilio(aiohttp_client, settings, fake_twilio[1], RULES)


@pytest.fixture
async def announcing(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: object,
    fake_twilio: tuple[FakeTwilio, str],
) -> Twilio:
    """Callbacks offered past 30 s of wait; a missed offer backs its agent off 120 s."""
    return await _twilio(aiohttp_client, settings, fake_twilio[1], ANNOUNCE_RULES)


async def test_a_caller_takes_a_callback_on_hold_and_is_called_back_once(
    twilio: Twilio, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    fake = fake_twilio[0]
    done = await twilio.take_callback()
    root = ET.fromstring(done)
    assert [child.tag for child in root] == ["Say", "Hangup"]
    assert _said(done) == "We will call you back at 1 5 5 5 1 2 3 0 0 0 0. Goodbye."
    # Twilio hangs up the caller's leg: that does not end the callback
    await twilio.post(twilio.public("/gateways/twilio/status"), call_form("completed", "1"), 204)
    waiting = await twilio.get(f"/v1/calls/{CALL_SID}")
    assert waiting["state"] == "queued"
    assert (waiting["callback"]["number"], waiting["callback"]["source"]) == (CALLER, "ivr")

    await twilio.agent("ann")
    accepted = await twilio.accept_offer(CALL_SID)
    assert accepted["state"] == "connected"
    await eventually(lambda: len(fake.creates) == 1, seconds=10)
    create = fake.create_form(0)
    assert (create["To"], create["From"]) == (CALLER, OUR_NUMBER)
    assert create["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert create["StatusCallbackMethod"] == "POST"
    dial = ET.fromstring(create["Twiml"]).find("Dial/Client")
    assert dial is not None and dial.findtext("Identity") == "ann"
    parameter = dial.find("Parameter")
    assert parameter is not None and parameter.attrib == {"name": "call_id", "value": CALL_SID}
    status_url = create["StatusCallback"]
    query = dict(parse_qsl(urlsplit(status_url).query))
    assert status_url.startswith(twilio.public("/gateways/twilio/status?"))
    assert query["callback"] == CALL_SID and query["dial"]
    assert fake.updates == []  # the caller's own leg is gone: nothing to update

    leg = fake.legs[0]
    await twilio.leg_status(status_url, leg, "initiated", 0)
    await twilio.leg_status(status_url, leg, "ringing", 1)
    placed = await twilio.get(f"/v1/calls/{CALL_SID}")
    assert placed["callback"]["dial"]["state"] == "placed"
    await twilio.leg_status(status_url, leg, "in-progress", 2)
    talking = await twilio.get(f"/v1/calls/{CALL_SID}")
    assert (talking["state"], talking["callback"]["dial"]["state"]) == ("connected", "answered")
    await twilio.leg_status(status_url, leg, "completed", 3)
    ended = await twilio.get(f"/v1/calls/{CALL_SID}")
    assert (ended["state"], ended["outcome"], ended["agent_id"]) == ("wrap_up", "handled", "ann")
    history = await twilio.get(f"/v1/callers/{CALLER}")
    assert [(c["call_id"], c["callback"]) for c in history["history"]["recent"]] == [
        (CALL_SID, "answered")
    ]
    assert len(fake.creates) == 1


async def test_the_first_legs_late_hang_up_does_not_end_the_attempt(
    twilio: Twilio, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    """The caller's own `completed` can arrive after an agent accepted the callback (and
    carry no earlier Timestamp): it is about the leg that left, not the attempt."""
    fake = fake_twilio[0]
    await twilio.take_callback()
    await twilio.agent("ann")
    await twilio.accept_offer(CALL_SID)
    await eventually(lambda: len(fake.creates) == 1, seconds=10)
    await twilio.post(twilio.public("/gateways/twilio/status"), call_form("completed", "1"), 204)
    call = await twilio.get(f"/v1/calls/{CALL_SID}")
    assert (call["state"], call["agent_id"]) == ("connected", "ann")
    assert call["callback"]["attempts"] == 1 and call["callback"]["dial"] is not None
    assert "last_outcome" not in call["callback"]


async def test_a_busy_customer_is_called_again_then_the_callback_fails(
    twilio: Twilio, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    fake = fake_twilio[0]
    await twilio.take_callback()
    await twilio.post(twilio.public("/gateways/twilio/status"), call_form("completed", "1"), 204)
    await twilio.agent("ann")
    await twilio.accept_offer(CALL_SID)
    await eventually(lambda: len(fake.creates) == 1, seconds=10)
    first_url = fake.create_form(0)["StatusCallback"]
    await twilio.leg_status(first_url, fake.legs[0], "initiated", 0)
    await twilio.leg_status(first_url, fake.legs[0], "busy", 1)
    retrying = await twilio.get(f"/v1/calls/{CALL_SID}")
    assert retrying["state"] == "queued"
    assert (retrying["callback"]["last_outcome"], retrying["callback"]["attempts"]) == ("busy", 1)
    ann = await twilio.get("/v1/agents/ann")
    assert (ann["activity"], ann["call_id"]) == ("idle", None)

    await twilio.accept_offer(CALL_SID)  # offered again after callback_retry_seconds
    await eventually(lambda: len(fake.creates) == 2, seconds=10)
    second_url = fake.create_form(1)["StatusCallback"]
    assert fake.create_form(1)["To"] == CALLER and second_url != first_url
    # a late report of the first leg does not touch the second attempt
    await twilio.leg_status(first_url, fake.legs[0], "completed", 2)
    second = await twilio.get(f"/v1/calls/{CALL_SID}")
    assert (second["state"], second["callback"]["attempts"]) == ("connected", 2)
    await twilio.leg_status(second_url, fake.legs[1], "ringing", 0)
    await twilio.leg_status(second_url, fake.legs[1], "busy", 1)
    ended = await twilio.get(f"/v1/calls/{CALL_SID}")
    assert (ended["state"], ended["outcome"], ended["end_reason"]) == (
        "ended",
        "failed",
        "callback_busy",
    )
    history = await twilio.get(f"/v1/callers/{CALLER}")
    assert [c["callback"] for c in history["history"]["recent"]] == ["busy"]
    assert len(fake.creates) == 2


async def test_another_number_keyed_in_is_said_back_and_called(twilio: Twilio) -> None:
    hold = await twilio.post(twilio.public("/gateways/twilio/voice"), call_form("ringing", "0"))
    confirm = await twilio.post(_gather(hold).attrib["action"], {**_form(), "Digits": "1"})
    entry = await twilio.post(_gather(confirm).attrib["action"], {**_form(), "Digits": "2"})
    keyed = _gather(entry)
    assert (keyed.get("finishOnKey"), keyed.get("numDigits")) == ("#", "18")
    assert keyed.get("action") == twilio.public("/gateways/twilio/callback/number")
    wrong = await twilio.post(keyed.attrib["action"], {**_form(), "Digits": "123"})
    assert _said(wrong).startswith("Sorry, that is not a number we can call.")
    # a national number: the caller's country code goes in front
    again = await twilio.post(_gather(wrong).attrib["action"], {**_form(), "Digits": "5557770001"})
    assert "1 5 5 5 7 7 7 0 0 0 1" in _said(again)
    assert _gather(again).attrib["action"] == twilio.public(
        "/gateways/twilio/callback/confirm?number=15557770001"
    )
    done = await twilio.post(_gather(again).attrib["action"], {**_form(), "Digits": "1"})
    assert "We will call you back at 1 5 5 5 7 7 7 0 0 0 1" in _said(done)
    call = await twilio.get(f"/v1/calls/{CALL_SID}")
    assert call["callback"]["number"] == "+15557770001"


async def test_the_wait_is_announced_at_most_every_interval_with_the_offer(
    announcing: Twilio,
) -> None:
    """An agent who missed the offer is back in 120 s: the caller hears about 2 minutes,
    and, 120 s being over the queue's 30, the offer."""
    twilio = announcing
    hold = await twilio.post(twilio.public("/gateways/twilio/voice"), call_form("ringing", "0"))
    # nobody serves the queue: the wait is not known, and 30 s have not passed yet
    assert [child.tag for child in ET.fromstring(hold)] == ["Start", "Pause", "Redirect"]
    await twilio.agent("ann")

    async def backed_off() -> bool:
        ann = await twilio.get("/v1/agents/ann")
        return bool(ann["missed_offers"] == 1)

    await eventually(backed_off, seconds=10)
    # callers on hold share one reading of the outlook for up to a second: the turns just
    # after the first may still be answered from the reading it made (nobody serving)
    turns: list[str] = []

    async def announced_turn() -> bool:
        turns.append(await twilio.post(twilio.public("/gateways/twilio/hold"), _form()))
        return ET.fromstring(turns[-1])[0].tag != "Pause"

    await eventually(announced_turn, seconds=5, every=0.2)
    turn = turns[-1]
    root = ET.fromstring(turn)
    assert [child.tag for child in root] == ["Say", "Gather", "Redirect"]
    assert root.findtext("Say") == "Your estimated wait is about 2 minutes."
    offer = _gather(turn)
    assert offer.findtext("Say") == (
        "To be called back when an agent is free instead of holding, press 1."
    )
    assert offer.get("action") == twilio.public("/gateways/twilio/callback/offer")
    following = root.findtext("Redirect")
    assert following is not None
    announced = dict(parse_qsl(urlsplit(following).query))["announced"]
    # the next turn, within the interval: the offer stays open, nothing is said
    quiet = await twilio.post(following, _form())
    quiet_root = ET.fromstring(quiet)
    assert [child.tag for child in quiet_root] == ["Gather", "Redirect"]
    assert [child.tag for child in _gather(quiet)] == ["Pause"]
    assert dict(parse_qsl(urlsplit(quiet_root.findtext("Redirect") or "").query)) == {
        "announced": announced
    }


async def test_menu_requests_are_signed_for_their_whole_url(twilio: Twilio) -> None:
    await twilio.post(twilio.public("/gateways/twilio/voice"), call_form("ringing", "0"))
    url = twilio.public("/gateways/twilio/callback/confirm?number=15551230000")
    form = {**_form(), "Digits": "1"}
    signature = RequestValidator(TOKEN).compute_signature(url, form)
    tampered = await twilio.client.post(
        "/gateways/twilio/callback/confirm?number=15550000000",
        data=form,
        headers={"X-Twilio-Signature": signature},
    )
    assert tampered.status == 403
    unsigned = await twilio.client.post("/gateways/twilio/callback/offer", data=form)
    assert unsigned.status == 403
    call = await twilio.get(f"/v1/calls/{CALL_SID}")
    assert call.get("callback") is None


async def test_without_a_public_url_no_callback_is_offered(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: object,
    fake_twilio: tuple[FakeTwilio, str],
) -> None:
    """Twilio could not report on a callback's leg, so none could be placed: the caller
    only holds."""
    twilio = await _twilio(aiohttp_client, settings, fake_twilio[1], RULES, public=False)
    hold = await twilio.post(twilio.public("/gateways/twilio/voice"), call_form("ringing", "0"))
    assert [child.tag for child in ET.fromstring(hold)] == ["Start", "Pause", "Redirect"]
    pressed = await twilio.post(
        twilio.public("/gateways/twilio/callback/offer"), {**_form(), "Digits": "1"}
    )
    assert [child.tag for child in ET.fromstring(pressed)] == ["Redirect"]
    assert (await twilio.get(f"/v1/calls/{CALL_SID}")).get("callback") is None
