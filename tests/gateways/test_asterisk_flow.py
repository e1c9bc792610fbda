"""Asterisk end to end, the server running as an ARI application against a loopback ARI
(callcenter.simulate.fake_asterisk: Asterisk's REST paths and events websocket, as its
documentation gives them; Asterisk itself is not packaged here). The whole call: inbound,
held with music, offered, accepted, the agent's leg rung and bridged, hung up, the caller's
history updated; live audio of both sides over AudioSocket. Faults: an agent answering
while the websocket is down (bridged at the reconnect), a malformed frame (counted, the
connection kept); those every PBX shares (failing agent legs, a dropped connection) are
in test_pbx_faults.py."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from callcenter.app import create_app
from callcenter.media.frames import Track
from callcenter.settings import Secret, Settings
from callcenter.simulate.fake_asterisk import FakeAsterisk
from callcenter.simulate.server_process import free_port
from callcenter.web.state import MEDIA
from tests.conftest import AppClient
from tests.gateways.pbx_desk import Desk, admin_desk

pytestmark = pytest.mark.timeout(60)

Json = dict[str, Any]


@pytest.fixture
def pbx(fake_asterisk: FakeAsterisk) -> FakeAsterisk:
    return fake_asterisk


@pytest.fixture
async def served(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    pbx: FakeAsterisk,
    redis_client: aioredis.Redis,
) -> AppClient:
    url = pbx.base_url
    ari = dataclasses.replace(
        settings,
        asterisk_ari_url=url,
        asterisk_ari_password=Secret("secret"),
        asterisk_music_class="queue-music",
        asterisk_agent_ring_seconds=5,
    )
    client = await aiohttp_client(create_app(ari))
    await pbx.wait_connected()
    return client


@pytest.fixture
async def desk(served: AppClient) -> Desk:
    return await admin_desk(served)


def held(pbx: FakeAsterisk, channel: str) -> bool:
    bridge = pbx.bridges.get(f"cc-hold-{channel}")
    return bridge is not None and channel in bridge.channels


async def test_a_caller_is_held_rung_through_to_the_agent_and_remembered(
    pbx: FakeAsterisk, desk: Desk
) -> None:
    await desk.agent("ann")
    caller = await pbx.incoming_call("+15551230000", "+15559870000", variables={"LANG": "en"})
    call = await desk.until(f"/v1/calls/{caller}", lambda c: c["state"] == "offered")
    assert call["from"] == "+15551230000" and call["attributes"]["LANG"] == "en"
    await pbx.wait_for(lambda: held(pbx, caller))
    assert pbx.channels[caller].state == "Up"  # answered before holding
    assert pbx.bridges[f"cc-hold-{caller}"].moh_class == "queue-music"
    assert pbx.bridges[f"cc-hold-{caller}"].bridge_type == "holding"

    await pbx.press(caller, "42")
    await desk.until(f"/v1/calls/{caller}", lambda c: c["attributes"].get("dtmf") == "42")

    await desk.accept(caller)
    talk = f"cc-talk-{caller}"
    await pbx.wait_for(lambda: talk in pbx.bridges and len(pbx.bridges[talk].channels) == 2)
    leg = next(c for c in pbx.bridges[talk].channels if c != caller)
    assert pbx.channels[leg].endpoint == "PJSIP/ann"
    originate = next(q for m, p, q in pbx.requests if m == "POST" and p == "/ari/channels")
    assert originate["callerId"] == "+15551230000" and originate["timeout"] == "5"
    await pbx.wait_for(lambda: f"cc-hold-{caller}" not in pbx.bridges)
    assert (await desk.get(f"/v1/calls/{caller}"))["state"] == "connected"

    await pbx.hang_up(caller)
    await desk.until(f"/v1/calls/{caller}", lambda c: c["state"] in ("wrap_up", "ended"))
    await pbx.wait_for(lambda: leg not in pbx.channels and talk not in pbx.bridges)
    history = await desk.until(
        "/v1/callers/+15551230000", lambda c: c["history"]["calls_total"] == 1
    )
    assert history["history"]["last_agent"] == "ann"
    assert await desk.metric(
        'callcenter_events_total{dialect="asterisk",result="applied",type="call.ended"} 1.0'
    )


async def test_an_agent_answering_while_the_websocket_is_down_is_bridged_on_reconnect(
    pbx: FakeAsterisk, desk: Desk
) -> None:
    await desk.agent("ann")
    caller = await pbx.incoming_call()
    await pbx.wait_for(lambda: held(pbx, caller))
    pbx.refuse_connections(True)
    await pbx.drop_connections()
    await desk.accept(caller)  # the leg is placed over REST, its StasisStart heard by nobody
    await pbx.wait_for(
        lambda: any(c.endpoint == "PJSIP/ann" and c.state == "Up" for c in pbx.channels.values())
    )
    pbx.refuse_connections(False)

    talk = f"cc-talk-{caller}"
    await pbx.wait_for(
        lambda: talk in pbx.bridges and len(pbx.bridges[talk].channels) == 2, timeout=15
    )
    await pbx.wait_for(lambda: f"cc-hold-{caller}" not in pbx.bridges)
    await desk.until(f"/v1/calls/{caller}", lambda c: c["state"] == "connected")
    # the accept connected the call already: the bridge's call.answered confirms it, once
    assert await desk.metric(
        'callcenter_events_total{dialect="asterisk",result="stale",type="call.answered"} 1.0'
    )


async def test_a_malformed_frame_is_counted_and_the_connection_kept(
    pbx: FakeAsterisk, desk: Desk
) -> None:
    await pbx.send_raw("this is not an ARI event")
    await pbx.send_raw('{"type": "ChannelDtmfReceived", "channel": {"id": "x"}, "digit": "99"}')
    caller = await pbx.incoming_call()
    await desk.until(f"/v1/calls/{caller}", lambda c: c["state"] == "queued")
    assert await desk.metric(
        'callcenter_events_total{dialect="asterisk",result="invalid",type="unknown"} 2.0'
    )
    # still the first connection: one reconciliation (a channel list per connection)
    assert [p for m, p, _ in pbx.requests if m == "GET" and p == "/ari/channels"] == [
        "/ari/channels"
    ]
    assert pbx.connections == 1


@pytest.fixture
async def listening(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    pbx: FakeAsterisk,
    redis_client: aioredis.Redis,
) -> AppClient:
    """The server with live audio: Asterisk sends each held caller's and each bridged
    agent's voice to our AudioSocket listener (snoop + externalMedia)."""
    port = free_port()
    ari = dataclasses.replace(
        settings,
        asterisk_ari_url=pbx.base_url,
        asterisk_ari_password=Secret("secret"),
        audiosocket_port=port,
        asterisk_audiosocket_address=f"127.0.0.1:{port}",
    )
    client = await aiohttp_client(create_app(ari))
    await pbx.wait_connected()
    return client


async def test_the_callers_and_the_agents_voices_reach_the_server(
    pbx: FakeAsterisk, listening: AppClient
) -> None:
    desk = await admin_desk(listening)
    hub = listening.app[MEDIA]
    await desk.agent("ann")
    caller = await pbx.incoming_call()
    await pbx.wait_for(lambda: any(m.snooping == caller for m in pbx.media.values()))
    voice = bytes(range(256)) * 25  # 200 ms of 16 kHz audio: 10 frames of 20 ms
    await pbx.speak(caller, voice, sample_rate=16000)
    await pbx.wait_for(
        lambda: (caller, Track.CALLER) in hub.legs and hub.legs[(caller, Track.CALLER)].frames == 10
    )
    assert hub.legs[(caller, Track.CALLER)].sample_rate == 16000

    await desk.accept(caller)
    talk = f"cc-talk-{caller}"
    await pbx.wait_for(lambda: talk in pbx.bridges and len(pbx.bridges[talk].channels) == 2)
    leg = next(c for c in pbx.bridges[talk].channels if c != caller)
    await pbx.wait_for(lambda: any(m.snooping == leg for m in pbx.media.values()))
    await pbx.speak(leg, voice, sample_rate=16000)
    await pbx.wait_for(
        lambda: (caller, Track.AGENT) in hub.legs and hub.legs[(caller, Track.AGENT)].frames == 10
    )

    await pbx.hang_up(caller)
    await pbx.wait_for(lambda: not hub.legs and not any(m.connected for m in pbx.media.values()))
