"""The loopback ARI (callcenter.simulate.fake_asterisk) through aiohttp's client on
127.0.0.1: its REST paths and status codes, the events websocket and its faults, and the
recorded event shapes in tests/fixtures/asterisk/ari_events agreeing with what it emits.

A negative assertion about a websocket waits for a positive marker first: `drain` sends a
raw frame after everything the fake has published and reads up to it."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from callcenter.simulate.fake_asterisk import FakeAsterisk

Json = dict[str, Any]
EVENTS = Path(__file__).parents[1] / "fixtures" / "asterisk" / "ari_events"
AUTH = {"Authorization": aiohttp.encode_basic_auth("callcenter", "secret")}
ARI_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
MARKER = "-- marker --"


class Events:
    """One events websocket, read a frame at a time (5 s at most each)."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse, pbx: FakeAsterisk) -> None:
        self.socket = socket
        self.pbx = pbx

    async def frame(self) -> aiohttp.WSMessage:
        return await self.socket.receive(timeout=5)

    async def next(self) -> Json:
        message = await self.frame()
        assert message.type is aiohttp.WSMsgType.TEXT, message
        event: Json = json.loads(message.data)
        return event

    async def until(self, kind: str, channel_id: str | None = None) -> Json:
        """The next event of `kind` (about `channel_id`), skipping others."""
        while True:
            event = await self.next()
            about = event.get("channel", {}).get("id")
            if event["type"] == kind and channel_id in (None, about):
                return event

    async def drain(self) -> list[Json]:
        """Every event published so far, up to a marker sent after them."""
        await self.pbx.send_raw(MARKER)
        found = []
        while (message := await self.frame()).data != MARKER:
            found.append(json.loads(message.data))
        return found


Listen = Callable[..., Awaitable[Events]]


@pytest.fixture
def pbx(fake_asterisk: FakeAsterisk) -> FakeAsterisk:
    return fake_asterisk


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=AUTH) as session:
        yield session


@pytest.fixture
async def listen(pbx: FakeAsterisk, http: aiohttp.ClientSession) -> AsyncIterator[Listen]:
    """`await listen()` → a websocket registered for the application (or `app=`); each is
    closed after the test, releasing its connection."""
    sockets: list[aiohttp.ClientWebSocketResponse] = []

    async def connect(app: str = "callcenter") -> Events:
        opened = pbx.connections_opened
        socket = await http.ws_connect(f"{pbx.base_url}/ari/events", params={"app": app})
        sockets.append(socket)
        await pbx.wait_for(lambda: pbx.connections_opened > opened)
        return Events(socket, pbx)

    yield connect
    for socket in sockets:
        await socket.close()


async def call(
    http: aiohttp.ClientSession, pbx: FakeAsterisk, method: str, path: str, **params: str
) -> tuple[int, Any]:
    """(status, JSON body or None) of one ARI request."""
    async with http.request(method, f"{pbx.base_url}/ari{path}", params=params) as answer:
        body = await answer.read()
        return answer.status, json.loads(body) if body else None


async def test_an_inbound_call_enters_the_application_and_is_answered(
    pbx: FakeAsterisk, http: aiohttp.ClientSession, listen: Listen
) -> None:
    events = await listen()
    caller = await pbx.incoming_call(
        "+15551230000", "+15559870000", variables={"CC_QUEUE": "billing"}
    )
    start = await events.next()
    assert (start["type"], start["args"], start["application"]) == ("StasisStart", [], "callcenter")
    assert ARI_TIME.match(start["timestamp"])
    channel = start["channel"]
    assert (channel["id"], channel["state"]) == (caller, "Ring")
    assert channel["caller"] == {"name": "", "number": "+15551230000"}
    assert channel["dialplan"]["exten"] == "+15559870000"
    assert channel["dialplan"]["app_name"] == "Stasis"
    assert channel["channelvars"] == {"CC_QUEUE": "billing"}

    assert await call(http, pbx, "POST", f"/channels/{caller}/answer") == (204, None)
    assert (await events.next())["channel"]["state"] == "Up"
    assert pbx.channels[caller].state == "Up"
    assert await call(http, pbx, "POST", f"/channels/{caller}/moh", mohClass="queue") == (204, None)
    assert pbx.channels[caller].moh_class == "queue"
    assert await call(http, pbx, "DELETE", f"/channels/{caller}/moh") == (204, None)
    assert pbx.channels[caller].moh_class is None


async def test_a_held_caller_presses_keys_and_hangs_up(
    pbx: FakeAsterisk, http: aiohttp.ClientSession, listen: Listen
) -> None:
    events = await listen()
    caller = await pbx.incoming_call()
    await events.until("StasisStart")
    status, bridge = await call(http, pbx, "POST", "/bridges/hold-1", type="holding")
    assert status == 200
    assert (bridge["bridge_type"], bridge["technology"]) == ("holding", "holding_bridge")
    assert bridge["channels"] == []
    assert ARI_TIME.match(bridge["creationtime"])
    added = await call(http, pbx, "POST", "/bridges/hold-1/addChannel", channel=caller)
    assert added == (204, None)
    entered = await events.next()
    assert (entered["type"], entered["bridge"]["channels"]) == ("ChannelEnteredBridge", [caller])
    assert (await call(http, pbx, "GET", "/bridges/hold-1"))[1]["channels"] == [caller]
    assert pbx.bridges["hold-1"].channels == [caller]
    assert pbx.channels[caller].bridge_id == "hold-1"
    assert await call(http, pbx, "POST", "/bridges/hold-1/moh", mohClass="queue") == (204, None)
    assert pbx.bridges["hold-1"].moh_class == "queue"

    await pbx.press(caller, "1#")
    assert [(await events.next())["digit"] for _ in "1#"] == ["1", "#"]

    await pbx.hang_up(caller)
    kinds = [await events.next() for _ in range(4)]
    assert [event["type"] for event in kinds] == [
        "ChannelHangupRequest",
        "ChannelLeftBridge",
        "StasisEnd",
        "ChannelDestroyed",
    ]
    assert kinds[0]["cause"] == 16
    assert "soft" not in kinds[0]  # the far end hung up, not ARI
    assert (kinds[3]["cause"], kinds[3]["cause_txt"]) == (16, "Normal Clearing")
    assert caller not in pbx.channels
    assert pbx.bridges["hold-1"].channels == []  # a bridge stays until it is destroyed


async def test_an_answered_originate_enters_the_application_with_its_args(
    pbx: FakeAsterisk, http: aiohttp.ClientSession, listen: Listen
) -> None:
    events = await listen()
    status, leg = await call(
        http,
        pbx,
        "POST",
        "/channels",
        endpoint="PJSIP/ann",
        app="callcenter",
        appArgs="agent,1796464800.26,ann",
        channelId="leg-1",
        callerId="+15551230000",
        timeout="30",
    )
    assert status == 200 and leg["id"] == "leg-1" and leg["state"] == "Down"
    assert leg["name"].startswith("PJSIP/ann-") and leg["caller"]["number"] == "+15551230000"
    assert (await events.next())["channel"]["state"] == "Ringing"
    assert (await events.next())["channel"]["state"] == "Up"
    start = await events.next()
    assert start["type"] == "StasisStart" and start["args"] == ["agent", "1796464800.26", "ann"]
    assert start["channel"]["dialplan"]["app_data"] == "callcenter,agent,1796464800.26,ann"
    assert pbx.channels["leg-1"].in_app and pbx.channels["leg-1"].endpoint == "PJSIP/ann"
    params = {"endpoint": "PJSIP/ann", "app": "callcenter", "channelId": "leg-1"}
    again = await call(http, pbx, "POST", "/channels", **params)
    assert again == (409, {"message": "Channel with given unique ID already exists"})
    assert (await call(http, pbx, "POST", "/channels", app="callcenter"))[0] == 400


async def test_an_originate_can_come_as_a_json_body_with_variables(
    pbx: FakeAsterisk, http: aiohttp.ClientSession
) -> None:
    body = {"endpoint": "PJSIP/ann", "app": "callcenter", "variables": {"CC_QUEUE": "sales"}}
    async with http.post(f"{pbx.base_url}/ari/channels", json=body) as answer:
        leg = await answer.json()
    assert answer.status == 200 and leg["channelvars"] == {"CC_QUEUE": "sales"}
    assert pbx.requests[-1] == (
        "POST",
        "/ari/channels",
        {"endpoint": "PJSIP/ann", "app": "callcenter"},
    )


@pytest.mark.parametrize(
    ("behaviour", "after", "ring_limit", "cause", "text"),
    [
        ("busy", 0.05, "30", 17, "User busy"),
        ("no_answer", 0.05, "30", 19, "User alerting, no answer"),
        ("no_answer", 30.0, "1", 19, "User alerting, no answer"),  # the originate's timeout
        ("answer", 30.0, "1", 19, "User alerting, no answer"),  # answers too late
    ],
)
async def test_a_leg_not_answered_is_destroyed_without_entering(
    pbx: FakeAsterisk,
    http: aiohttp.ClientSession,
    listen: Listen,
    behaviour: str,
    after: float,
    ring_limit: str,
    cause: int,
    text: str,
) -> None:
    pbx.set_endpoint("PJSIP/bob", behaviour, after_seconds=after)
    events = await listen()
    params = {"endpoint": "PJSIP/bob", "app": "callcenter", "appArgs": "agent,x,bob"}
    status, leg = await call(http, pbx, "POST", "/channels", **params, timeout=ring_limit)
    assert status == 200
    seen = [await events.next()]
    while seen[-1]["type"] != "ChannelDestroyed":
        seen.append(await events.next())
    assert (seen[-1]["cause"], seen[-1]["cause_txt"]) == (cause, text)
    assert "StasisStart" not in {event["type"] for event in seen}
    assert leg["id"] not in pbx.channels


async def test_an_unreachable_endpoint_fails_the_originate_itself(
    pbx: FakeAsterisk, http: aiohttp.ClientSession
) -> None:
    pbx.set_endpoint("PJSIP/gone", "unreachable")
    answer = await call(http, pbx, "POST", "/channels", endpoint="PJSIP/gone", app="callcenter")
    assert answer == (500, {"error": "Allocation failed"}) and pbx.channels == {}
    with pytest.raises(ValueError, match="behaviour"):
        pbx.set_endpoint("PJSIP/gone", "sometimes")


async def test_credentials_are_required_for_rest_and_the_websocket(pbx: FakeAsterisk) -> None:
    wrong = {"Authorization": aiohttp.encode_basic_auth("callcenter", "guess")}
    async with aiohttp.ClientSession() as anonymous:
        for headers in ({}, wrong):
            async with anonymous.get(f"{pbx.base_url}/ari/channels", headers=headers) as answer:
                assert answer.status == 401
                assert await answer.json() == {"message": "Authentication required"}
                assert answer.headers["WWW-Authenticate"].startswith("Basic realm=")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await anonymous.ws_connect(f"{pbx.base_url}/ari/events?app=callcenter")
        assert refused.value.status == 401
        key = {"api_key": "callcenter:secret"}
        async with anonymous.get(f"{pbx.base_url}/ari/channels", params=key) as answer:
            assert answer.status == 200 and await answer.json() == []
    assert ("GET", "/ari/channels", {}) in pbx.requests  # the api_key is not recorded


async def test_unknown_things_are_ari_json_errors(
    pbx: FakeAsterisk, http: aiohttp.ClientSession, listen: Listen
) -> None:
    not_found = {"message": "Channel not found"}
    assert await call(http, pbx, "GET", "/channels/nope") == (404, not_found)
    assert await call(http, pbx, "DELETE", "/channels/nope") == (404, not_found)
    assert await call(http, pbx, "POST", "/channels/nope/answer") == (404, not_found)
    assert await call(http, pbx, "GET", "/nothing/here") == (404, {"message": "Resource not found"})
    assert await call(http, pbx, "GET", "/bridges/nope") == (404, {"message": "Bridge not found"})
    assert await call(http, pbx, "POST", "/bridges/nope/addChannel", channel="x") == (
        404,
        {"message": "Bridge not found"},
    )
    async with http.get(f"{pbx.base_url}/ari/events") as answer:  # no app
        assert answer.status == 400


async def test_bridges_refuse_what_asterisk_refuses(
    pbx: FakeAsterisk, http: aiohttp.ClientSession, listen: Listen
) -> None:
    events = await listen()
    caller = await pbx.incoming_call()
    pbx.set_endpoint("PJSIP/slow", "no_answer", after_seconds=30)
    await call(
        http, pbx, "POST", "/channels", endpoint="PJSIP/slow", app="callcenter", channelId="r"
    )
    assert (await call(http, pbx, "POST", "/bridges", type="mixing", bridgeId="talk"))[0] == 200
    assert await call(http, pbx, "POST", "/bridges/talk", type="mixing") == (
        409,
        {"message": "Bridge with id 'talk' already exists"},
    )
    add = "/bridges/talk/addChannel"
    assert await call(http, pbx, "POST", add, channel="nope") == (
        400,
        {"message": "Channel not found"},
    )
    not_in_app = {"message": "Channel not in Stasis application"}
    assert await call(http, pbx, "POST", add, channel="r") == (422, not_in_app)
    assert await call(http, pbx, "POST", "/channels/r/answer") == (409, not_in_app)
    assert await call(http, pbx, "POST", "/bridges/talk/removeChannel", channel=caller) == (
        422,
        {"message": "Channel not in this bridge"},
    )
    assert await call(http, pbx, "DELETE", "/bridges/talk/moh") == (
        409,
        {"message": "Bridge isn't playing music"},
    )
    await call(http, pbx, "POST", "/bridges", type="holding", bridgeId="hold")
    await call(http, pbx, "POST", "/bridges/hold/addChannel", channel=caller)
    await call(http, pbx, "POST", add, channel=caller)  # moves: leaves the holding bridge
    moves = [e for e in await events.drain() if e.get("channel", {}).get("id") == caller]
    assert [(e["type"], e["bridge"]["id"]) for e in moves[1:]] == [
        ("ChannelEnteredBridge", "hold"),
        ("ChannelLeftBridge", "hold"),
        ("ChannelEnteredBridge", "talk"),
    ]
    assert pbx.bridges["hold"].channels == [] and pbx.bridges["talk"].channels == [caller]
    assert await call(http, pbx, "DELETE", "/bridges/talk") == (204, None)
    assert (await events.until("BridgeDestroyed"))["bridge"]["id"] == "talk"
    assert "talk" not in pbx.bridges and pbx.channels[caller].bridge_id is None


async def test_a_hangup_by_ari_takes_a_reason(
    pbx: FakeAsterisk, http: aiohttp.ClientSession, listen: Listen
) -> None:
    events = await listen()
    caller = await pbx.incoming_call()
    await events.next()
    both = await call(http, pbx, "DELETE", f"/channels/{caller}", reason="busy", reason_code="17")
    assert both[0] == 400
    assert (await call(http, pbx, "DELETE", f"/channels/{caller}", reason="bogus"))[0] == 400
    assert caller in pbx.channels
    assert await call(http, pbx, "DELETE", f"/channels/{caller}", reason="busy") == (204, None)
    request = await events.next()
    assert request["type"] == "ChannelHangupRequest" and request["soft"] is True
    assert (await events.next())["type"] == "StasisEnd"
    destroyed = await events.next()
    assert (destroyed["cause"], destroyed["cause_txt"]) == (17, "User busy")


async def test_a_dropped_websocket_can_reconnect_and_hear_later_events(
    pbx: FakeAsterisk, listen: Listen
) -> None:
    first = await listen()
    await pbx.drop_connections()
    message = await first.frame()
    assert message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    assert pbx.connections == 0
    second = await listen()
    caller = await pbx.incoming_call()
    assert (await second.until("StasisStart"))["channel"]["id"] == caller
    assert pbx.connections_opened == 2


async def test_refused_connections_are_503_until_allowed(
    pbx: FakeAsterisk, http: aiohttp.ClientSession, listen: Listen
) -> None:
    pbx.refuse_connections(True)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(f"{pbx.base_url}/ari/events?app=callcenter")
    assert refused.value.status == 503 and pbx.connections_opened == 0
    pbx.refuse_connections(False)
    events = await listen()
    await pbx.incoming_call()
    assert (await events.next())["type"] == "StasisStart"


async def test_every_open_websocket_gets_a_raw_frame_and_its_applications_events(
    pbx: FakeAsterisk, http: aiohttp.ClientSession, listen: Listen
) -> None:
    calls, monitor = await listen("callcenter"), await listen("monitor")
    await pbx.send_raw("this is not an ARI event")
    for events in (calls, monitor):
        assert (await events.frame()).data == "this is not an ARI event"
    caller = await pbx.incoming_call()
    await call(http, pbx, "POST", "/channels", endpoint="PJSIP/ann", app="monitor")
    assert (await calls.next())["channel"]["id"] == caller
    assert (await monitor.until("StasisStart"))["application"] == "monitor"
    assert [e for e in await calls.drain() if e["application"] != "callcenter"] == []


async def test_a_second_websocket_for_the_application_replaces_the_first(
    pbx: FakeAsterisk, listen: Listen
) -> None:
    first = await listen()
    second = await listen()
    replaced = await first.next()
    assert replaced["type"] == "ApplicationReplaced" and replaced["application"] == "callcenter"
    caller = await pbx.incoming_call()
    assert (await second.next())["channel"]["id"] == caller
    assert await first.drain() == []  # replaced: it hears nothing more


async def test_closing_a_replaced_websocket_unregisters_the_application(
    pbx: FakeAsterisk, listen: Listen
) -> None:
    first = await listen()
    second = await listen()
    await first.socket.close()
    await pbx.wait_for(lambda: pbx.connections == 1)
    await pbx.incoming_call()
    assert await second.drain() == []  # as stasis_app_unregister does in Asterisk


def shape(value: Any) -> Any:
    """Keys all the way down, and the JSON type of every leaf."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    return type(value).__name__


async def emitted(
    pbx: FakeAsterisk, http: aiohttp.ClientSession, events: Events
) -> dict[str, Json]:
    """One of each fixture's kind, as the fake emits it."""
    pbx.set_endpoint("PJSIP/bob", "busy")
    pbx.set_endpoint("PJSIP/cho", "no_answer")
    caller = await pbx.incoming_call(variables={"CC_QUEUE": "billing"})
    found = {"stasis_start_inbound": await events.until("StasisStart", caller)}
    await call(http, pbx, "POST", f"/channels/{caller}/answer")
    found["channel_state_change_up"] = await events.until("ChannelStateChange", caller)
    await pbx.press(caller, "1")
    found["channel_dtmf_received"] = await events.until("ChannelDtmfReceived", caller)
    for agent, name in (("ann", "stasis_start_agent_leg"), ("bob", "busy"), ("cho", "no_answer")):
        leg = f"cc-agent:{caller}:{agent}:5f2c9a1e"
        params = {"endpoint": f"PJSIP/{agent}", "app": "callcenter", "channelId": leg}
        params |= {"appArgs": f"agent,{caller},{agent}", "callerId": "+15551230000"}
        await call(http, pbx, "POST", "/channels", **params)
        kind = "StasisStart" if agent == "ann" else "ChannelDestroyed"
        found[name if agent == "ann" else f"channel_destroyed_{name}"] = await events.until(
            kind, leg
        )
    await pbx.hang_up(caller)
    found["channel_hangup_request"] = await events.until("ChannelHangupRequest", caller)
    found["stasis_end"] = await events.until("StasisEnd", caller)
    found["channel_destroyed_normal"] = await events.until("ChannelDestroyed", caller)
    return found


@pytest.fixture(params=sorted(EVENTS.glob("*.json")), ids=lambda path: path.stem)
def recorded(request: pytest.FixtureRequest) -> tuple[str, Json]:
    """(name, event) of one recorded event."""
    path: Path = request.param
    event: Json = json.loads(path.read_text())
    return path.stem, event


async def test_a_recorded_event_has_the_shape_the_fake_emits(
    pbx: FakeAsterisk, http: aiohttp.ClientSession, listen: Listen, recorded: tuple[str, Json]
) -> None:
    name, recorded_event = recorded
    fake = (await emitted(pbx, http, await listen()))[name]
    assert recorded_event["type"] == fake["type"]
    assert shape(recorded_event) == shape(fake)
    assert ARI_TIME.match(recorded_event["timestamp"]) and ARI_TIME.match(
        recorded_event["channel"]["creationtime"]
    )
    assert recorded_event["application"] == "callcenter" and re.fullmatch(
        r"([0-9a-f]{2}:){5}[0-9a-f]{2}", recorded_event["asterisk_id"]
    )
    if recorded_event["type"] == "ChannelDestroyed":
        assert (recorded_event["cause"], recorded_event["cause_txt"]) == (
            fake["cause"],
            fake["cause_txt"],
        )


def test_every_kind_of_event_is_recorded() -> None:
    assert {path.stem for path in EVENTS.glob("*.json")} == {
        "stasis_start_inbound",
        "stasis_start_agent_leg",
        "channel_dtmf_received",
        "channel_hangup_request",
        "stasis_end",
        "channel_destroyed_normal",
        "channel_destroyed_busy",
        "channel_destroyed_no_answer",
        "channel_state_change_up",
    }
