"""Live audio in the loopback ARI (callcenter.simulate.fake_asterisk_media) over real sockets
on 127.0.0.1: snoop and external media channels through aiohttp's client, and a small
asyncio TCP server standing in for our AudioSocket listener, recording what arrives.

A negative assertion waits for a positive marker first: the events websocket is read up to
a raw frame sent after everything published; a listener's frames up to later audio."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from callcenter.simulate import fake_asterisk_media
from callcenter.simulate.fake_asterisk import FakeAsterisk

Json = dict[str, Any]
AUTH = {"Authorization": aiohttp.encode_basic_auth("callcenter", "secret")}
INTERNAL = "An internal error prevented this request from being handled"
MARKER = "-- marker --"
HANGUP, UUID_KIND, SLIN, SLIN16 = 0x00, 0x01, 0x10, 0x12


@dataclass
class Peer:
    """One connection the fake opened: its messages (kind, payload) in order."""

    writer: asyncio.StreamWriter
    frames: list[tuple[int, bytes]] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def audio(self) -> list[tuple[int, bytes]]:
        return [(kind, payload) for kind, payload in self.frames if kind in (SLIN, SLIN16)]


class Listener:
    """Our AudioSocket listener's stand-in."""

    def __init__(self) -> None:
        self.peers: list[Peer] = []
        self.port = 0

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(writer)
        self.peers.append(peer)
        try:
            while True:
                header = await reader.readexactly(3)
                payload = await reader.readexactly(int.from_bytes(header[1:], "big"))
                peer.frames.append((header[0], payload))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            peer.closed.set()
            writer.close()


@pytest.fixture
def pbx(fake_asterisk: FakeAsterisk) -> FakeAsterisk:
    return fake_asterisk


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=AUTH) as session:
        yield session


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    found = Listener()
    server = await asyncio.start_server(found.handle, "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    yield found
    server.close()
    await server.wait_closed()


async def call(
    http: aiohttp.ClientSession, pbx: FakeAsterisk, method: str, path: str, **params: str
) -> tuple[int, Any]:
    async with http.request(method, f"{pbx.base_url}/ari{path}", params=params) as answer:
        body = await answer.read()
        return answer.status, json.loads(body) if body else None


async def snoop(http: aiohttp.ClientSession, pbx: FakeAsterisk, target: str, snoop_id: str) -> Json:
    status, body = await call(
        http, pbx, "POST", f"/channels/{target}/snoop",
        spy="in", app="callcenter", appArgs="snoop", snoopId=snoop_id,
    )  # fmt: skip
    assert status == 200, body
    found: Json = body
    return found


async def external_media(
    http: aiohttp.ClientSession, pbx: FakeAsterisk, host_port: str, **params: str
) -> tuple[int, Any]:
    query = {
        "app": "callcenter",
        "external_host": host_port,
        "format": "slin16",
        "encapsulation": "audiosocket",
        "transport": "tcp",
        "data": str(uuid.uuid4()),
        "channelId": "cc-media:caller:c1",
    }
    return await call(http, pbx, "POST", "/channels/externalMedia", **(query | params))


async def listening(
    http: aiohttp.ClientSession, pbx: FakeAsterisk, listener: Listener, **params: str
) -> tuple[str, str, Peer]:
    """A caller, a snoop on it and an external media channel in a mixing bridge: (caller,
    media channel id, the listener's connection)."""
    caller = await pbx.incoming_call()
    spy = await snoop(http, pbx, caller, "cc-snoop:caller:c1")
    status, media = await external_media(http, pbx, listener.host_port, **params)
    assert status == 200, media
    await pbx.wait_for(lambda: all(pbx.channels[c["id"]].in_app for c in (spy, media)))
    assert (await call(http, pbx, "POST", "/bridges/m1", type="mixing"))[0] == 200
    members = f"{spy['id']},{media['id']}"
    assert (await call(http, pbx, "POST", "/bridges/m1/addChannel", channel=members))[0] == 204
    await pbx.wait_for(lambda: len(listener.peers) == 1 and bool(listener.peers[0].frames))
    return caller, media["id"], listener.peers[0]


async def events_until_marker(
    socket: aiohttp.ClientWebSocketResponse, pbx: FakeAsterisk
) -> list[Json]:
    await pbx.send_raw(MARKER)
    found = []
    while (message := await socket.receive(timeout=5)).data != MARKER:
        found.append(json.loads(message.data))
    return found


async def test_a_snooped_caller_is_heard_as_20_ms_frames_after_the_uuid(
    pbx: FakeAsterisk, http: aiohttp.ClientSession, listener: Listener
) -> None:
    leg = str(uuid.uuid4())
    caller, media_id, peer = await listening(http, pbx, listener, data=leg)
    assert peer.frames == [(UUID_KIND, uuid.UUID(leg).bytes)]
    media = pbx.media[media_id]
    assert (media.uuid, media.host_port, media.format) == (leg, listener.host_port, "slin16")
    assert (media.connected, media.snooping) == (True, caller)
    pcm = bytes(range(256)) * 12  # 3072 bytes: four 20 ms frames at 16 kHz and a short one
    loop = asyncio.get_running_loop()
    started = loop.time()
    await pbx.speak(caller, pcm)
    assert loop.time() - started >= 4 * 0.02 - 0.005  # real time: one frame each 20 ms
    await pbx.wait_for(lambda: len(peer.audio()) == 5)
    assert [kind for kind, _ in peer.audio()] == [SLIN16] * 5
    assert [len(payload) for _, payload in peer.audio()] == [640] * 4 + [512]
    assert b"".join(payload for _, payload in peer.audio()) == pcm
    assert pbx.media[media_id].frames_sent == 5


async def test_slin_is_8_khz_and_another_rate_is_refused(
    pbx: FakeAsterisk, http: aiohttp.ClientSession, listener: Listener
) -> None:
    caller, _, peer = await listening(http, pbx, listener, format="slin")
    with pytest.raises(ValueError, match="slin"):
        await pbx.speak(caller, bytes(640), sample_rate=16000)
    await pbx.speak(caller, bytes(640), sample_rate=8000)
    await pbx.wait_for(lambda: len(peer.audio()) == 2)
    assert peer.audio() == [(SLIN, bytes(320))] * 2  # nothing from the refused one


async def test_only_media_bridged_with_a_snoop_on_the_speaker_hear_it(
    pbx: FakeAsterisk, http: aiohttp.ClientSession, listener: Listener
) -> None:
    caller, media_id, peer = await listening(http, pbx, listener)
    other = await pbx.incoming_call()
    await pbx.speak(other, b"\x01\x00" * 320)  # nobody snoops on it
    await call(http, pbx, "POST", "/bridges/m1/removeChannel", channel=media_id)
    assert pbx.media[media_id].snooping is None
    await pbx.speak(caller, b"\x02\x00" * 320)  # out of the bridge now
    await call(http, pbx, "POST", "/bridges/m1/addChannel", channel=media_id)
    await pbx.speak(caller, b"\x03\x00" * 320)  # the marker: heard
    await pbx.wait_for(lambda: len(peer.audio()) >= 1)
    assert peer.audio() == [(SLIN16, b"\x03\x00" * 320)]


async def test_hanging_up_the_media_channel_sends_a_hangup_and_closes(
    pbx: FakeAsterisk, http: aiohttp.ClientSession, listener: Listener
) -> None:
    caller, media_id, peer = await listening(http, pbx, listener)
    status, _ = await call(http, pbx, "DELETE", f"/channels/{media_id}")
    assert status == 204
    await asyncio.wait_for(peer.closed.wait(), 5)
    assert peer.frames[-1] == (HANGUP, b"")
    assert pbx.media[media_id].connected is False
    await pbx.speak(caller, bytes(640))  # heard by nobody now
    assert pbx.media[media_id].frames_sent == 0


async def test_the_peer_closing_hangs_the_media_channel_up(
    pbx: FakeAsterisk, http: aiohttp.ClientSession, listener: Listener
) -> None:
    socket = await http.ws_connect(f"{pbx.base_url}/ari/events", params={"app": "callcenter"})
    await pbx.wait_connected()
    _, media_id, peer = await listening(http, pbx, listener)
    peer.writer.close()
    await pbx.wait_for(lambda: media_id not in pbx.channels)
    about = [(e["type"], e["channel"]["id"]) for e in await events_until_marker(socket, pbx)]
    ending = [kind for kind, channel in about if channel == media_id][-3:]
    assert ending == ["ChannelLeftBridge", "StasisEnd", "ChannelDestroyed"]
    assert pbx.media[media_id].connected is False
    await socket.close()


async def test_the_snoop_and_media_channels_enter_the_application_and_end_with_the_caller(
    pbx: FakeAsterisk, http: aiohttp.ClientSession, listener: Listener
) -> None:
    socket = await http.ws_connect(f"{pbx.base_url}/ari/events", params={"app": "callcenter"})
    await pbx.wait_connected()
    leg = str(uuid.uuid4())
    caller, media_id, _ = await listening(http, pbx, listener, data=leg)
    starts = {
        e["channel"]["id"]: (e["channel"]["name"], e["channel"]["state"], e["args"])
        for e in await events_until_marker(socket, pbx)
        if e["type"] == "StasisStart"
    }
    name, state, args = starts["cc-snoop:caller:c1"]
    assert (name.startswith(f"Snoop/{caller}-"), state, args) == (True, "Up", ["snoop"])
    assert starts[media_id] == (f"AudioSocket/{listener.host_port}-{leg}", "Up", [leg])
    await pbx.hang_up(caller)
    assert "cc-snoop:caller:c1" not in pbx.channels
    ended = [
        e["type"]
        for e in await events_until_marker(socket, pbx)
        if e["channel"]["id"] == "cc-snoop:caller:c1"
    ]
    assert ended == ["ChannelLeftBridge", "StasisEnd", "ChannelDestroyed"]
    assert media_id in pbx.channels  # the media channel stays until it is hung up
    await socket.close()


async def test_a_snoop_id_in_the_path_and_the_snoop_refusals(
    pbx: FakeAsterisk, http: aiohttp.ClientSession
) -> None:
    caller = await pbx.incoming_call()
    status, body = await call(
        http, pbx, "POST", f"/channels/{caller}/snoop/s1", spy="both", app="callcenter"
    )
    assert (status, body["id"], body["state"]) == (200, "s1", "Up")
    refusals = [
        ("/channels/nobody/snoop", {"spy": "in", "app": "callcenter"}, 404,
         "Provided channel was not found"),
        (f"/channels/{caller}/snoop", {"spy": "sideways", "app": "callcenter"}, 400,
         "Invalid direction specified for spy"),
        (f"/channels/{caller}/snoop", {"app": "callcenter"}, 400,
         "Direction must be specified for at least spy or whisper"),
        (f"/channels/{caller}/snoop", {"spy": "in"}, 400, "Application name is required"),
        (f"/channels/{caller}/snoop/s1", {"spy": "in", "app": "callcenter"}, 500,
         "Snoop channel could not be created"),
    ]  # fmt: skip
    for path, params, expected, message in refusals:
        assert await call(http, pbx, "POST", path, **params) == (expected, {"message": message})


@pytest.mark.parametrize(
    ("params", "expected", "message"),
    [
        ({"data": ""}, 400, "data can not be empty"),
        ({"app": ""}, 400, "app cannot be empty"),
        ({"transport": "udp"}, 400, "transport must be 'tcp' for audiosocket encapsulation"),
        ({"format": ""}, 400, "format cannot be empty"),
        ({"external_host": "127.0.0.1"}, 400,
         "external_host must be <host>:<port> for all but websocket"),
        ({"external_host": "192.0.2.7:9092"}, 400,
         "the fake Asterisk connects to loopback addresses only, not 192.0.2.7"),
        ({"encapsulation": "rtp", "transport": "udp"}, 501,
         "The encapsulation and/or transport is not supported"),
        ({"data": "not-a-uuid"}, 500, INTERNAL),
        ({"format": "ulaw"}, 500, INTERNAL),
    ],
)  # fmt: skip
async def test_external_media_refusals(
    pbx: FakeAsterisk,
    http: aiohttp.ClientSession,
    listener: Listener,
    params: dict[str, str],
    expected: int,
    message: str,
) -> None:
    answer = await external_media(http, pbx, listener.host_port, **params)
    assert answer == (expected, {"message": message})
    assert (pbx.channels, pbx.media, listener.peers) == ({}, {}, [])


async def test_a_refused_connection_creates_no_channel(
    pbx: FakeAsterisk, http: aiohttp.ClientSession
) -> None:
    with socket.socket() as probe:  # a port nobody listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    answer = await external_media(http, pbx, f"127.0.0.1:{port}")
    assert answer == (500, {"message": INTERNAL})
    assert (pbx.channels, pbx.media) == ({}, {})


async def test_a_media_channel_id_in_use_is_the_same_500(
    pbx: FakeAsterisk, http: aiohttp.ClientSession, listener: Listener
) -> None:
    await pbx.incoming_call(channel_id="cc-media:caller:c1")
    answer = await external_media(http, pbx, listener.host_port)
    assert answer == (500, {"message": INTERNAL})  # ARI overwrites the originate's 409


async def test_a_new_snoop_is_refused_in_a_bridge_until_it_enters_the_application(
    pbx: FakeAsterisk, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As Asterisk's snoop_stasis_thread: the answer comes first, StasisStart later."""
    monkeypatch.setattr(fake_asterisk_media, "STASIS_SECONDS", 3600.0)
    caller = await pbx.incoming_call()
    spy = await snoop(http, pbx, caller, "cc-snoop:caller:c1")
    assert (await call(http, pbx, "POST", "/bridges/m1", type="mixing"))[0] == 200
    status, body = await call(http, pbx, "POST", "/bridges/m1/addChannel", channel=spy["id"])
    assert (status, body["message"]) == (422, "Channel not in Stasis application")
