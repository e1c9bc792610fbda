"""The simulator as Twilio for callbacks, against the real app (in process, real Redis): a
simulated caller takes the offer on hold; the server's Calls create reaches the
simulator's REST endpoint, which answers as the customer with signed status callbacks, and
the callback ends handled (or, busy every time, failed after the queue's attempts)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from callcenter.app import create_app
from callcenter.settings import Secret, Settings
from callcenter.simulate.ledger import CallRecord, Ledger
from callcenter.simulate.traffic import CallPlan
from callcenter.simulate.twilio_callbacks import ANSWERED, BUSY
from callcenter.simulate.twilio_gateway import TwilioGateway
from callcenter.storage.embedded import free_port
from callcenter.web.state import SERVICES
from tests.conftest import BASIC_RULES, FIXTURES, AppClient
from tests.polling import eventually

ACCOUNT = "AC" + "3" * 32
TOKEN = "simulated-twilio-token"
CALL_SID = "CA" + "5a" * 16
CALLER = "+15550001234"
RULES = FIXTURES / "rules" / "twilio_callbacks"
Heard = list[tuple[str, str | None, str]]


@dataclasses.dataclass
class Run:
    client: AppClient
    gateway: TwilioGateway
    ledger: Ledger
    record: CallRecord
    heard: Heard
    admin: dict[str, str]

    async def call(self) -> dict[str, Any]:
        answer = await self.client.get(f"/v1/calls/{CALL_SID}", headers=self.admin)
        assert answer.status == 200
        document: dict[str, Any] = await answer.json()
        return document

    async def accept_offer(self) -> None:
        async def offered() -> dict[str, Any] | None:
            call = await self.call()
            reservation: dict[str, Any] | None = call.get("reservation")
            return reservation if call["state"] == "offered" else None

        await eventually(offered, seconds=10)
        reservation = await offered()
        assert reservation is not None
        answer = await self.client.post(
            f"/v1/reservations/{reservation['id']}/accept", headers=self.admin
        )
        assert answer.status == 200, await answer.text()


def _plan() -> CallPlan:
    return CallPlan(
        index=0,
        call_sid=CALL_SID,
        at_seconds=0.0,
        queue="billing",
        dialed="+18005550100",
        caller=CALLER,
        tier="standard",
        first_call=True,
        mood=None,
        clip_pick=0,
        handle_seconds=0.2,
        patience_seconds=None,
        think_seconds=0.0,
        wrap_up_seconds=0.0,
    )


@asynccontextmanager
async def _run(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    session: aiohttp.ClientSession,
    answers: str,
    rules: Path = RULES,
) -> AsyncIterator[Run]:
    port, api_port = free_port(), free_port()
    public = f"http://127.0.0.1:{port}"
    configured = dataclasses.replace(
        settings,
        rules_dir=rules,
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=Secret(TOKEN),
        twilio_api_url=f"http://127.0.0.1:{api_port}",
        public_url=public,
    )
    app = create_app(configured)
    client = await aiohttp_client(app, server_kwargs={"port": port})
    token, _ = await client.app[SERVICES].auth.create_token("admin", "t")
    admin = {"Authorization": f"Bearer {token}"}
    ledger = Ledger()
    heard: Heard = []
    gateway = TwilioGateway(
        session,
        ledger,
        server_url=public,
        public_url=public,
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        api_host="127.0.0.1",
        api_port=api_port,
        clock=lambda: 0.0,
        on_connect=lambda call_id, agent_id: None,
        on_callback=lambda call_id, agent_id, what: heard.append((call_id, agent_id, what)),
        callback_answers=lambda call_id: answers,
    )
    await gateway.start()
    record = ledger.add(_plan())
    try:
        yield Run(client, gateway, ledger, record, heard, admin)
    finally:
        await gateway.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _agent(run: Run) -> None:
    put = await run.client.put(
        "/v1/agents/ann", json={"name": "Ann", "skills": {}}, headers=run.admin
    )
    assert put.status == 201
    available = await run.client.post(
        "/v1/agents/ann/presence", json={"presence": "available"}, headers=run.admin
    )
    assert available.status == 200


async def test_a_simulated_caller_takes_the_callback_and_answers_it(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: object,
    session: aiohttp.ClientSession,
) -> None:
    async with _run(aiohttp_client, settings, session, ANSWERED) as run:
        await run.gateway.place(run.record)
        assert await run.gateway.take_callback(run.record)
        waiting = await run.call()
        assert waiting["state"] == "queued"
        callback = waiting["callback"]
        assert (callback["number"], callback["source"]) == (CALLER, "ivr")
        await _agent(run)
        await run.accept_offer()

        async def wrapped_up() -> bool:
            return bool((await run.call())["state"] in ("wrap_up", "ended"))

        await eventually(wrapped_up, seconds=10)
        # the simulator hears the server's answer to its `completed` after the server
        await eventually(lambda: len(run.heard) == 3)
        done = await run.call()
        assert (done["outcome"], done["agent_id"]) == ("handled", "ann")
        assert run.heard == [
            (CALL_SID, "ann", "dialled"),
            (CALL_SID, "ann", "answered"),
            (CALL_SID, "ann", "completed"),
        ]
        assert run.gateway.callbacks.creates == {CALL_SID: 1}
        assert (run.ledger.routing_errors, run.ledger.failures) == ([], [])


async def test_a_busy_simulated_customer_fails_after_the_queues_attempts(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: object,
    session: aiohttp.ClientSession,
) -> None:
    async with _run(aiohttp_client, settings, session, BUSY) as run:
        await run.gateway.place(run.record)
        assert await run.gateway.take_callback(run.record)
        await _agent(run)
        await run.accept_offer()
        await eventually(lambda: run.gateway.callbacks.creates.get(CALL_SID) == 1, seconds=10)
        await run.accept_offer()  # offered again after the retry pause

        async def ended() -> bool:
            return bool((await run.call())["state"] == "ended")

        await eventually(ended, seconds=10)
        await eventually(lambda: len(run.heard) == 4)
        done = await run.call()
        assert (done["outcome"], done["end_reason"]) == ("failed", "callback_busy")
        assert [what for _, _, what in run.heard] == ["dialled", "busy", "dialled", "busy"]
        assert run.gateway.callbacks.creates == {CALL_SID: 2}
        assert run.ledger.routing_errors == []


async def test_without_an_offer_the_caller_holds_on(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: object,
    session: aiohttp.ClientSession,
) -> None:
    """The basic rules offer no callback: the caller follows the hold once, hears no
    offer and holds on."""
    async with _run(aiohttp_client, settings, session, ANSWERED, BASIC_RULES) as run:
        await run.gateway.place(run.record)
        assert not await run.gateway.take_callback(run.record)
        waiting = await run.call()
        assert (waiting["state"], waiting.get("callback")) == ("queued", None)
        assert run.gateway.callbacks.creates == {}
