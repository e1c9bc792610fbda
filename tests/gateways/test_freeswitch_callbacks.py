"""Callbacks through FreeSWITCH, against the loopback mod_event_socket
(callcenter.simulate.fake_freeswitch): the customer's leg originated with the callback dial
string, held once it answers (parks), the accepting agent rung and bridged (the attempt
answered), the history kept; a busy customer, and an agent whose leg fails after the
customer answered, end the attempt and free the agent; an attempt placed again is not
placed twice."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from callcenter.app import create_app
from callcenter.errors import DialRefused, SettingError
from callcenter.gateways.freeswitch.callbacks import EslCallbackDialer, EslCallbackSettings
from callcenter.gateways.freeswitch.control import EslCommands
from callcenter.metrics import Metrics
from callcenter.settings import Secret, Settings
from callcenter.simulate.fake_freeswitch import FakeFreeswitch
from tests.conftest import AppClient
from tests.gateways.pbx_desk import Desk, admin_desk, callback_call, callback_rules

pytestmark = pytest.mark.timeout(60)

NUMBER = "+15557770001"
TRUNK = f"sofia/gateway/provider/{NUMBER}"
SHOWN = "+15550001111"


@pytest.fixture
def pbx(fake_freeswitch: FakeFreeswitch) -> FakeFreeswitch:
    return fake_freeswitch


@pytest.fixture
async def desk(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    pbx: FakeFreeswitch,
    tmp_path: Path,
    redis_client: aioredis.Redis,
) -> Desk:
    esl = dataclasses.replace(
        settings,
        rules_dir=callback_rules(tmp_path),
        freeswitch_esl_host="127.0.0.1",
        freeswitch_esl_port=pbx.port,
        freeswitch_esl_password=Secret("secret"),
        freeswitch_hold_music="local_stream://queue",
        freeswitch_agent_ring_seconds=5,
        freeswitch_callback_dial_template="sofia/gateway/provider/{number}",
        freeswitch_caller_id=SHOWN,
    )
    client = await aiohttp_client(create_app(esl))
    await pbx.wait_connected()
    return await admin_desk(client)


def originates(pbx: FakeFreeswitch) -> list[str]:
    return [c for c in pbx.commands if c.startswith("bgapi originate")]


def customer_of(pbx: FakeFreeswitch) -> str:
    return next(u for u, c in pbx.channels.items() if c.dest == TRUNK)


async def test_the_customer_is_called_held_and_bridged_to_the_agent(
    pbx: FakeFreeswitch, desk: Desk
) -> None:
    call_id = await desk.callback(NUMBER)
    await desk.agent("ann")
    await desk.accept(call_id)
    await pbx.wait_for(lambda: any(c.dest == TRUNK for c in pbx.channels.values()))
    customer = customer_of(pbx)
    await pbx.wait_for(lambda: pbx.bridged(customer) != "")
    agent_leg = pbx.bridged(customer)
    assert pbx.channels[agent_leg].dest == "user/ann"
    first, second = originates(pbx)
    assert first.endswith(f"{TRUNK} &park()") and f"cc_callback_call={call_id}" in first
    assert f"origination_caller_id_number={SHOWN}" in first
    assert second.endswith("user/ann &park()") and f"cc_call_id={call_id}" in second
    answered = await desk.until(
        f"/v1/calls/{call_id}", lambda c: c["callback"]["dial"]["state"] == "answered"
    )
    assert (answered["state"], answered["agent_id"]) == ("connected", "ann")

    await pbx.hang_up(customer)
    await desk.until(f"/v1/calls/{call_id}", lambda c: c["state"] in ("wrap_up", "ended"))
    await pbx.wait_for(lambda: agent_leg not in pbx.channels)
    history = await desk.until(f"/v1/callers/{NUMBER}", lambda c: c["history"]["calls_total"] == 1)
    assert [c["callback"] for c in history["history"]["recent"]] == ["answered"]


async def test_a_busy_customer_frees_the_agent_for_a_later_attempt(
    pbx: FakeFreeswitch, desk: Desk
) -> None:
    pbx.set_endpoint(TRUNK, "busy")
    call_id = await desk.callback(NUMBER)
    await desk.agent("ann")
    await desk.accept(call_id)
    waiting = await desk.until(
        f"/v1/calls/{call_id}", lambda c: c["callback"].get("last_outcome") == "busy"
    )
    assert waiting["state"] in ("queued", "offered") and waiting["callback"]["attempts"] == 1
    assert not any(c.endswith("user/ann &park()") for c in originates(pbx))


async def test_an_agent_leg_failing_after_the_customer_answered_ends_the_attempt(
    pbx: FakeFreeswitch, desk: Desk
) -> None:
    pbx.set_endpoint("user/ann", "busy")
    call_id = await desk.callback(NUMBER)
    await desk.agent("ann")
    await desk.accept(call_id)
    waiting = await desk.until(
        f"/v1/calls/{call_id}", lambda c: c["callback"].get("last_outcome") == "failed"
    )
    assert waiting["state"] in ("queued", "offered")
    await pbx.wait_for(lambda: not any(c.dest == TRUNK for c in pbx.channels.values()))
    assert [c.rsplit("}", 1)[1] for c in originates(pbx)][:2] == [
        f"{TRUNK} &park()",
        "user/ann &park()",
    ]


async def test_an_attempt_placed_again_is_not_placed_twice(pbx: FakeFreeswitch) -> None:
    """A second claim of the same attempt (its instance went silent) finds the customer's
    leg with uuid_exists: placed already."""
    pbx.set_endpoint(TRUNK, "no_answer")  # rings until the test is over
    commands = EslCommands("127.0.0.1", pbx.port, "secret")
    placing = EslCallbackSettings(dial_template="sofia/gateway/provider/{number}", caller_id=None)
    dialer = EslCallbackDialer(commands, placing, metrics=Metrics())
    # "12 34" is not a number to show: no caller id is set
    call, dial = callback_call("cb1", "d1", NUMBER, to="12 34")
    assert call.callback is not None
    try:
        first = await dialer.dial(call, dial)
        await pbx.wait_for(lambda: first in pbx.channels)
        assert await dialer.dial(call, dial) == first
        assert len(originates(pbx)) == 1
        assert "origination_caller_id_number" not in originates(pbx)[0]
        bad = msgspec.structs.replace(
            call, callback=msgspec.structs.replace(call.callback, number="+1 555")
        )
        with pytest.raises(DialRefused):
            await dialer.dial(bad, dial)
    finally:
        await commands.close()


async def test_a_callback_dial_string_without_the_event_socket_is_a_clear_error(
    settings: Settings, redis_client: aioredis.Redis
) -> None:
    alone = dataclasses.replace(settings, freeswitch_callback_dial_template="sofia/x/{number}")
    server = TestServer(create_app(alone))  # a bare server: a client would leak its session
    with pytest.raises(SettingError) as caught:
        await server.start_server()
    await server.close()
    assert caught.value.name == "CALLCENTER_FREESWITCH_CALLBACK_DIAL_TEMPLATE"
