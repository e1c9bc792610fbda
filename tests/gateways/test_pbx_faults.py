"""The faults every PBX's call control must survive, run the same way against the loopback
Asterisk (ARI) and the loopback FreeSWITCH (event socket), through the real server and
Redis: an agent leg that is busy, rings out or cannot be placed puts the caller back in
place (held all along, the agent's offer missed); the PBX connection dropping mid-call,
with a hang-up and a new caller missed meanwhile, is caught up once, without duplicates."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import pytest
import redis.asyncio as aioredis

from callcenter.app import create_app
from callcenter.settings import Secret, Settings
from callcenter.simulate.fake_asterisk import FakeAsterisk
from callcenter.simulate.fake_freeswitch import FakeFreeswitch
from tests.conftest import AppClient
from tests.gateways.pbx_desk import Desk, admin_desk

pytestmark = pytest.mark.timeout(60)

HOLD_MUSIC = {"asterisk": "queue-music", "freeswitch": "local_stream://queue"}


class LoopbackPbx(Protocol):
    async def incoming_call(self, caller: str = ...) -> str: ...

    async def hang_up(self, channel_id: str) -> None: ...

    def set_endpoint(self, endpoint: str, behaviour: str) -> None: ...

    def refuse_connections(self, refuse: bool) -> None: ...

    async def drop_connections(self) -> None: ...

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = ...) -> None: ...  # noqa: ASYNC109


@dataclass(frozen=True)
class Rig:
    """One PBX as these tests drive it, and the server's API."""

    dialect: str
    pbx: LoopbackPbx
    agent_endpoint: str  # where the agent `ann` is rung
    unplaceable: str  # the behaviour of an endpoint the PBX cannot place a call to
    held: Callable[[str], bool]  # whether a caller is on hold
    desk: Desk

    def events_line(self, kind: str, count: int) -> str:
        labels = f'dialect="{self.dialect}",result="applied",type="{kind}"'
        return f"callcenter_events_total{{{labels}}} {count}.0"


def asterisk_rig(pbx: FakeAsterisk, desk: Desk) -> Rig:
    def held(caller: str) -> bool:
        bridge = pbx.bridges.get(f"cc-hold-{caller}")
        return bridge is not None and caller in bridge.channels

    return Rig("asterisk", pbx, "PJSIP/ann", "unreachable", held, desk)


def freeswitch_rig(pbx: FakeFreeswitch, desk: Desk) -> Rig:
    def held(caller: str) -> bool:
        channel = pbx.channels.get(caller)
        return channel is not None and channel.playing == HOLD_MUSIC["freeswitch"]

    return Rig("freeswitch", pbx, "user/ann", "not_registered", held, desk)


def configured(settings: Settings, fake: FakeAsterisk | FakeFreeswitch) -> Settings:
    if isinstance(fake, FakeAsterisk):
        return dataclasses.replace(
            settings,
            asterisk_ari_url=fake.base_url,
            asterisk_ari_password=Secret("secret"),
            asterisk_music_class=HOLD_MUSIC["asterisk"],
            asterisk_agent_ring_seconds=5,
        )
    return dataclasses.replace(
        settings,
        freeswitch_esl_host="127.0.0.1",
        freeswitch_esl_port=fake.port,
        freeswitch_esl_password=Secret("secret"),
        freeswitch_hold_music=HOLD_MUSIC["freeswitch"],
        freeswitch_agent_ring_seconds=5,
    )


@pytest.fixture(params=["asterisk", "freeswitch"])
async def rig(
    request: pytest.FixtureRequest,
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: aioredis.Redis,
    fake_asterisk: FakeAsterisk,
    fake_freeswitch: FakeFreeswitch,
) -> Rig:
    """The server controlling one PBX (both loopback PBXs run; the other is idle)."""
    fake = fake_asterisk if request.param == "asterisk" else fake_freeswitch
    client = await aiohttp_client(create_app(configured(settings, fake)))
    await fake.wait_connected()
    desk = await admin_desk(client)
    return (
        asterisk_rig(fake, desk) if isinstance(fake, FakeAsterisk) else freeswitch_rig(fake, desk)
    )


@pytest.mark.parametrize("behaviour", ["busy", "no_answer", "unplaceable"])
async def test_an_agent_leg_that_fails_puts_the_caller_back_in_place(
    rig: Rig, behaviour: str
) -> None:
    """Busy, ringing out, or an endpoint the PBX cannot place a call to (ARI's 500 to the
    originate; the event socket's -ERR job)."""
    pbx, desk = rig.pbx, rig.desk
    pbx.set_endpoint(
        rig.agent_endpoint, rig.unplaceable if behaviour == "unplaceable" else behaviour
    )
    await desk.agent("ann")
    caller = await pbx.incoming_call()
    offered = await desk.accept(caller)
    ann = await desk.until("/v1/agents/ann", lambda a: a["missed_offers"] == 1)
    assert ann["activity"] == "idle"
    call = await desk.get(f"/v1/calls/{caller}")
    assert call["state"] in ("queued", "offered") and call["queued_at"] == offered["queued_at"]
    assert rig.held(caller)  # still on hold, never dropped
    await desk.agent("bob")
    await desk.until(f"/v1/calls/{caller}", lambda c: c["agent_id"] == "bob")
    assert await desk.metric('callcenter_reservations_total{result="agent_leg_failed"} 1.0')


async def test_a_dropped_connection_catches_up_once(rig: Rig) -> None:
    pbx, desk = rig.pbx, rig.desk
    first = await pbx.incoming_call("+15551230000")
    await desk.until(f"/v1/calls/{first}", lambda c: c["state"] == "queued")
    await pbx.wait_for(lambda: rig.held(first))

    pbx.refuse_connections(True)
    await pbx.drop_connections()
    await pbx.hang_up(first)  # heard by nobody
    second = await pbx.incoming_call("+15557770000")  # nor this one
    pbx.refuse_connections(False)

    await desk.until(f"/v1/calls/{first}", lambda c: c["state"] == "ended", seconds=20)
    await desk.until(f"/v1/calls/{second}", lambda c: c["state"] == "queued")
    await pbx.wait_for(lambda: rig.held(second))
    await pbx.hang_up(second)  # heard live again
    await desk.until(f"/v1/calls/{second}", lambda c: c["state"] == "ended")
    assert await desk.metric(rig.events_line("call.ended", 2))
    assert await desk.metric(rig.events_line("call.created", 2))
