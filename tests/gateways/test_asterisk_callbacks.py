"""Callbacks through Asterisk, against the loopback ARI (callcenter.simulate.fake_asterisk):
the customer's leg originated to the callback endpoint, held once answered, the accepting
agent rung and bridged (the attempt answered), the history kept; a customer who is busy or
unreachable, and an agent whose leg fails after the customer answered, end the attempt and
free the agent; a repeated attempt is not placed twice."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from callcenter.app import create_app
from callcenter.errors import DialRefused, SettingError
from callcenter.gateways.asterisk.ari_callbacks import AriCallbackDialer, AriCallbackSettings
from callcenter.gateways.asterisk.ari_rest import AriRest
from callcenter.metrics import Metrics
from callcenter.settings import Secret, Settings
from callcenter.simulate.fake_asterisk import FakeAsterisk
from tests.conftest import AppClient
from tests.gateways.pbx_desk import Desk, admin_desk, callback_call, callback_rules

pytestmark = pytest.mark.timeout(60)

NUMBER = "+15557770001"
TRUNK = f"PJSIP/{NUMBER}@provider"
SHOWN = "+15550001111"  # the number the customer sees


@pytest.fixture
def pbx(fake_asterisk: FakeAsterisk) -> FakeAsterisk:
    return fake_asterisk


@pytest.fixture
async def desk(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    pbx: FakeAsterisk,
    tmp_path: Path,
    redis_client: aioredis.Redis,
) -> Desk:
    ari = dataclasses.replace(
        settings,
        rules_dir=callback_rules(tmp_path),
        asterisk_ari_url=pbx.base_url,
        asterisk_ari_password=Secret("secret"),
        asterisk_agent_ring_seconds=5,
        asterisk_callback_endpoint="PJSIP/{number}@provider",
        asterisk_caller_id=SHOWN,
    )
    client = await aiohttp_client(create_app(ari))
    await pbx.wait_connected()
    return await admin_desk(client)


def originates(pbx: FakeAsterisk) -> list[dict[str, str]]:
    return [q for m, p, q in pbx.requests if m == "POST" and p == "/ari/channels"]


async def test_the_customer_is_called_held_and_bridged_to_the_agent(
    pbx: FakeAsterisk, desk: Desk
) -> None:
    pbx.set_endpoint(TRUNK, "answer", after_seconds=0.2)
    call_id = await desk.callback(NUMBER)
    await desk.agent("ann")
    await desk.accept(call_id)

    talk = f"cc-talk-{call_id}"
    await pbx.wait_for(lambda: talk in pbx.bridges and len(pbx.bridges[talk].channels) == 2)
    customer, agent = originates(pbx)
    assert customer["endpoint"] == TRUNK and customer["callerId"] == SHOWN
    assert customer["channelId"].startswith(f"cc-callback:{call_id}:")
    assert agent["endpoint"] == "PJSIP/ann" and agent["callerId"] == NUMBER
    assert set(pbx.bridges[talk].channels) == {customer["channelId"], agent["channelId"]}
    await pbx.wait_for(lambda: f"cc-hold-{call_id}" not in pbx.bridges)  # held while it rang
    answered = await desk.until(
        f"/v1/calls/{call_id}", lambda c: c["callback"]["dial"]["state"] == "answered"
    )
    assert (answered["state"], answered["agent_id"]) == ("connected", "ann")

    await pbx.hang_up(customer["channelId"])
    await desk.until(f"/v1/calls/{call_id}", lambda c: c["state"] in ("wrap_up", "ended"))
    await pbx.wait_for(lambda: agent["channelId"] not in pbx.channels and talk not in pbx.bridges)
    history = await desk.until(f"/v1/callers/{NUMBER}", lambda c: c["history"]["calls_total"] == 1)
    assert [c["callback"] for c in history["history"]["recent"]] == ["answered"]
    assert await desk.metric(
        'callcenter_webhook_deliveries_total{result="delivered",'
        'type="asterisk.callback_originate"} 1.0'
    )


@pytest.mark.parametrize(("behaviour", "outcome"), [("busy", "busy"), ("unreachable", "failed")])
async def test_a_customer_not_reached_frees_the_agent_for_a_later_attempt(
    pbx: FakeAsterisk, desk: Desk, behaviour: str, outcome: str
) -> None:
    """Busy (the leg ends with cause 17), or a trunk Asterisk cannot place (500)."""
    pbx.set_endpoint(TRUNK, behaviour)
    call_id = await desk.callback(NUMBER)
    await desk.agent("ann")
    await desk.accept(call_id)
    waiting = await desk.until(
        f"/v1/calls/{call_id}", lambda c: c["callback"].get("last_outcome") == outcome
    )
    assert waiting["state"] in ("queued", "offered") and waiting["callback"]["attempts"] == 1
    ann = await desk.get("/v1/agents/ann")
    assert ann["call_id"] != call_id or ann["activity"] != "on_call"
    assert not any(p.startswith("PJSIP/ann") for p in (o["endpoint"] for o in originates(pbx)))


async def test_an_agent_leg_failing_after_the_customer_answered_ends_the_attempt(
    pbx: FakeAsterisk, desk: Desk
) -> None:
    pbx.set_endpoint("PJSIP/ann", "busy")
    call_id = await desk.callback(NUMBER)
    await desk.agent("ann")
    await desk.accept(call_id)
    waiting = await desk.until(
        f"/v1/calls/{call_id}", lambda c: c["callback"].get("last_outcome") == "failed"
    )
    assert waiting["state"] in ("queued", "offered")
    customer = originates(pbx)[0]["channelId"]
    await pbx.wait_for(lambda: customer not in pbx.channels)  # let go, to be called again
    assert [o["endpoint"] for o in originates(pbx)][:2] == [TRUNK, "PJSIP/ann"]


async def test_an_attempt_placed_again_is_not_placed_twice(pbx: FakeAsterisk) -> None:
    """A second claim of the same attempt (its instance went silent) meets the channel id
    in use (409): placed already. A trunk that cannot be reached is refused."""
    async with aiohttp.ClientSession() as session:
        rest = AriRest(session, pbx.base_url, "callcenter", "secret")
        placing = AriCallbackSettings(app="callcenter", endpoint="PJSIP/{number}@p", caller_id=None)
        metrics = Metrics()
        dialer = AriCallbackDialer(rest, placing, metrics=metrics)
        pbx.set_endpoint(f"PJSIP/{NUMBER}@p", "answer", after_seconds=30)
        call, dial = callback_call("cb1", "d1", NUMBER)
        first = await dialer.dial(call, dial)
        assert await dialer.dial(call, dial) == first == "cc-callback:cb1:d1"
        assert len(originates(pbx)) == 2 and list(pbx.channels) == [first]
        pbx.set_endpoint(f"PJSIP/{NUMBER}@p", "unreachable")
        other, dial2 = callback_call("cb2", "d2", NUMBER)
        with pytest.raises(DialRefused):
            await dialer.dial(other, dial2)
        assert list(pbx.channels) == [first]

        def count(result: str) -> float | None:
            return metrics.registry.get_sample_value(
                "callcenter_webhook_deliveries_total",
                {"type": "asterisk.callback_originate", "result": result},
            )

        assert (count("delivered"), count("refused")) == (2.0, 1.0)


async def test_a_callback_endpoint_without_ari_is_a_clear_error(
    settings: Settings, redis_client: aioredis.Redis
) -> None:
    alone = dataclasses.replace(settings, asterisk_callback_endpoint="PJSIP/{number}@provider")
    # a bare server: a test client whose server never started would leak its session
    server = TestServer(create_app(alone))
    with pytest.raises(SettingError) as caught:
        await server.start_server()
    await server.close()
    assert caught.value.name == "CALLCENTER_ASTERISK_CALLBACK_ENDPOINT"
    assert "CALLCENTER_ASTERISK_ARI_URL" in caught.value.reason


async def test_a_customer_answering_while_the_websocket_is_down_is_caught_up(
    pbx: FakeAsterisk, desk: Desk
) -> None:
    await desk.agent("ann")
    pbx.refuse_connections(True)
    await pbx.drop_connections()
    call_id = await desk.callback(NUMBER)
    await desk.accept(call_id)  # placed over REST; the customer's StasisStart heard by none
    await pbx.wait_for(
        lambda: any(c.endpoint == TRUNK and c.state == "Up" for c in pbx.channels.values())
    )
    pbx.refuse_connections(False)
    talk = f"cc-talk-{call_id}"
    await pbx.wait_for(
        lambda: talk in pbx.bridges and len(pbx.bridges[talk].channels) == 2, timeout=15
    )
    await desk.until(f"/v1/calls/{call_id}", lambda c: c["callback"]["dial"]["state"] == "answered")


@pytest.mark.parametrize("gateway", ["asterisk", "freeswitch", "twilio", "generic"])
async def test_a_callback_gateway_that_cannot_place_callbacks_stops_the_start(
    settings: Settings, redis_client: aioredis.Redis, gateway: str
) -> None:
    chosen = dataclasses.replace(settings, callback_gateway=gateway)
    server = TestServer(create_app(chosen))  # a bare server: a client would leak its session
    with pytest.raises(SettingError) as caught:
        await server.start_server()
    await server.close()
    assert caught.value.name == "CALLCENTER_CALLBACK_GATEWAY"
    assert gateway in caught.value.reason
