"""FreeSWITCH end to end, the server controlling calls over the event socket against a
loopback mod_event_socket (callcenter.simulate.fake_freeswitch: the text protocol and API
replies as FreeSWITCH's documentation gives them; FreeSWITCH itself is not packaged here).
The whole call: inbound, parked, held with music, offered, accepted, the agent's leg
originated and bridged, hung up, the other leg killed, the caller's history updated; a leg
the dialplan never parks is no call. Faults: a malformed event (counted, the connection
kept); those every PBX shares (failing agent legs, a dropped connection) are in
test_pbx_faults.py."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from callcenter.app import create_app
from callcenter.settings import Secret, Settings
from callcenter.simulate.fake_freeswitch import FakeFreeswitch
from tests.conftest import AppClient
from tests.gateways.pbx_desk import Desk, admin_desk

pytestmark = pytest.mark.timeout(60)

Json = dict[str, Any]
FORK_URL = "ws://127.0.0.1:9/media/l16?token=t"


@pytest.fixture
def pbx(fake_freeswitch: FakeFreeswitch) -> FakeFreeswitch:
    return fake_freeswitch


@pytest.fixture
async def served(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    pbx: FakeFreeswitch,
    redis_client: aioredis.Redis,
) -> AppClient:
    esl = dataclasses.replace(
        settings,
        freeswitch_esl_host="127.0.0.1",
        freeswitch_esl_port=pbx.port,
        freeswitch_esl_password=Secret("secret"),
        freeswitch_hold_music="local_stream://queue",
        freeswitch_agent_ring_seconds=5,
        freeswitch_audio_fork_url=FORK_URL,
    )
    client = await aiohttp_client(create_app(esl))
    await pbx.wait_connected()
    return client


@pytest.fixture
async def desk(served: AppClient) -> Desk:
    return await admin_desk(served)


def held(pbx: FakeFreeswitch, caller: str) -> bool:
    channel = pbx.channels.get(caller)
    return channel is not None and channel.playing == "local_stream://queue"


def events_line(kind: str, count: int, result: str = "applied") -> str:
    return (
        f'callcenter_events_total{{dialect="freeswitch",result="{result}",type="{kind}"}} {count}.0'
    )


async def test_a_caller_is_held_rung_through_to_the_agent_and_remembered(
    pbx: FakeFreeswitch, desk: Desk
) -> None:
    await desk.agent("ann")
    caller = await pbx.incoming_call("+15551230000", "+15559870000", name="Carol")
    call = await desk.until(f"/v1/calls/{caller}", lambda c: c["state"] == "offered")
    assert call["from"] == "+15551230000"
    await pbx.wait_for(lambda: held(pbx, caller))
    assert pbx.channels[caller].answered_us > 0  # answered before the music
    assert pbx.channels[caller].audio_fork == FORK_URL
    fork = next(c for c in pbx.commands if c.startswith("api uuid_audio_fork"))
    metadata = json.loads(fork.split(" ", 7)[7])
    assert fork.split()[5:7] == ["mono", "16k"]
    assert metadata == {"callid": caller, "sampleRate": 16000, "mixType": "mono"}

    await desk.accept(caller)
    await pbx.wait_for(lambda: pbx.bridged(caller) != "")
    leg = pbx.bridged(caller)
    assert pbx.channels[leg].dest == "user/ann" and pbx.channels[leg].direction == "outbound"
    assert pbx.channels[leg].variables["cc_call_id"] == caller
    originate = next(c for c in pbx.commands if c.startswith("bgapi originate"))
    assert "originate_timeout=5" in originate and originate.endswith("user/ann &park()")
    assert not pbx.channels[caller].playing  # the music stopped
    connected = await desk.until(f"/v1/calls/{caller}", lambda c: c["state"] == "connected")
    assert connected["agent_id"] == "ann"

    await pbx.hang_up(caller)
    await desk.until(f"/v1/calls/{caller}", lambda c: c["state"] in ("wrap_up", "ended"))
    await pbx.wait_for(lambda: leg not in pbx.channels)  # the agent's leg hung up for us
    history = await desk.until(
        "/v1/callers/+15551230000", lambda c: c["history"]["calls_total"] == 1
    )
    assert history["history"]["last_agent"] == "ann"
    assert await desk.metric(events_line("call.ended", 1))
    # accepting connected the call already: the bridge's call.answered only confirms it
    assert await desk.metric(events_line("call.answered", 1, "stale"))


async def test_the_agent_hanging_up_hangs_up_the_caller(pbx: FakeFreeswitch, desk: Desk) -> None:
    await desk.agent("ann")
    caller = await pbx.incoming_call()
    await desk.accept(caller)
    await pbx.wait_for(lambda: pbx.bridged(caller) != "")
    await pbx.hang_up(pbx.bridged(caller))
    await pbx.wait_for(lambda: caller not in pbx.channels)
    await desk.until(f"/v1/calls/{caller}", lambda c: c["state"] in ("wrap_up", "ended"))


async def test_a_malformed_event_is_counted_and_the_connection_kept(
    pbx: FakeFreeswitch, desk: Desk
) -> None:
    body = b'{"Event-Name": "CHANNEL_CREATE", "Unique-ID": '
    await pbx.send_raw(
        b"Content-Length: %d\nContent-Type: text/event-json\n\n%s" % (len(body), body)
    )
    caller = await pbx.incoming_call()
    await desk.until(f"/v1/calls/{caller}", lambda c: c["state"] == "queued")
    assert await desk.metric(events_line("unknown", 1, "invalid"))
    assert pbx.subscriptions == 1  # still the first event connection
    assert pbx.commands.count("api show channels as json") == 1


async def test_a_call_is_what_the_dialplan_parks_in_the_queue_it_names(
    pbx: FakeFreeswitch, desk: Desk
) -> None:
    """With call control, a leg becomes a call when the dialplan parks it (an internal call
    that is never parked is none of ours), with the cc_queue the dialplan set before."""
    internal = await pbx.incoming_call("1001", "1002", park=False)
    caller = await pbx.incoming_call(dialplan={"cc_queue": "billing"})
    call = await desk.until(f"/v1/calls/{caller}", lambda c: c["state"] == "queued")
    assert call["queue"] == "billing"
    answer = await desk.client.get(f"/v1/calls/{internal}", headers=desk.headers)
    assert answer.status == 404
    assert await desk.metric(events_line("call.created", 1))
