"""The loopback FreeSWITCH event socket on its own: the handshake, subscriptions, api and
bgapi replies, the channel model's commands, and the ways it fails."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from callcenter.gateways.freeswitch.parser import EslMessage, EslParser, MessageKind
from callcenter.simulate.fake_freeswitch import FakeFreeswitch

pytestmark = pytest.mark.timeout(30)


class Wire:
    """A raw ESL connection, as a client sees it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = EslParser()
        self.pending: list[EslMessage] = []

    async def next(self) -> EslMessage:
        while not self.pending:
            chunk = await self.reader.read(65536)
            assert chunk, "the fake closed the connection"
            self.pending.extend(self.parser.feed(chunk))
        return self.pending.pop(0)

    async def send(self, command: str) -> EslMessage:
        self.writer.write(command.encode() + b"\n\n")
        return await self.next()

    async def event(self, name: str) -> dict[str, str]:
        while True:
            message = await self.next()
            if message.kind is MessageKind.EVENT_JSON:
                document: dict[str, str] = json.loads(message.body)
                if document["Event-Name"] == name:
                    return document


OPEN: list[asyncio.StreamWriter] = []


@pytest.fixture
async def fake() -> AsyncIterator[FakeFreeswitch]:
    switch = FakeFreeswitch(password="pw")
    await switch.start()
    yield switch
    for writer in OPEN:
        writer.close()
    OPEN.clear()
    await switch.stop()


async def opened(fake: FakeFreeswitch) -> Wire:
    wire = Wire(*await asyncio.open_connection("127.0.0.1", fake.port))
    OPEN.append(wire.writer)
    return wire


async def connect(fake: FakeFreeswitch, events: str = "") -> Wire:
    wire = await opened(fake)
    assert (await wire.next()).kind is MessageKind.AUTH_REQUEST
    assert (await wire.send("auth pw")).reply_text == "+OK accepted"
    if events:
        reply = await wire.send(f"event json {events}")
        assert reply.reply_text.startswith("+OK")
    return wire


async def test_a_wrong_password_is_refused_and_disconnected(fake: FakeFreeswitch) -> None:
    wire = await opened(fake)
    await wire.next()
    assert (await wire.send("auth nope")).reply_text.startswith("-ERR")
    assert (await wire.next()).kind is MessageKind.DISCONNECT_NOTICE


async def test_a_parked_call_held_and_listed(fake: FakeFreeswitch) -> None:
    wire = await connect(fake, "CHANNEL_CREATE CHANNEL_PARK")
    caller = await fake.incoming_call("+15551230000", "100")
    created = await wire.event("CHANNEL_CREATE")
    assert created["Unique-ID"] == caller and created["Call-Direction"] == "inbound"
    await wire.event("CHANNEL_PARK")
    reply = await wire.send(f"api uuid_broadcast {caller} local_stream://moh aleg")
    assert reply.kind is MessageKind.API_RESPONSE and reply.body.startswith(b"+OK")
    assert fake.channels[caller].playing == "local_stream://moh"
    listing = json.loads((await wire.send("api show channels as json")).body)
    assert listing["row_count"] == 1 and listing["rows"][0]["application"] == "park"
    assert (await wire.send("api uuid_kill nobody")).body.startswith(b"-ERR No such channel")


async def test_bgapi_originate_answers_parks_and_reports_the_job(fake: FakeFreeswitch) -> None:
    wire = await connect(fake, "CHANNEL_PARK BACKGROUND_JOB CHANNEL_BRIDGE")
    caller = await fake.incoming_call()
    assert (await wire.event("CHANNEL_PARK"))["Unique-ID"] == caller
    command = "bgapi originate {origination_uuid=leg-1,cc_call_id=x}user/ann &park()"
    reply = await wire.send(command + "\nJob-UUID: job-1")
    assert reply.reply_text == "+OK Job-UUID: job-1"
    parked = await wire.event("CHANNEL_PARK")
    assert parked["Unique-ID"] == "leg-1"
    assert parked["variable_cc_call_id"] == "x" and parked["Call-Direction"] == "outbound"
    job = await wire.event("BACKGROUND_JOB")
    assert job["Job-UUID"] == "job-1" and job["_body"] == "+OK leg-1\n"
    assert (await wire.send(f"api uuid_bridge {caller} leg-1")).body == b"+OK leg-1\n"
    bridge = await wire.event("CHANNEL_BRIDGE")
    assert bridge["Unique-ID"] == caller and bridge["Bridge-B-Unique-ID"] == "leg-1"
    assert fake.bridged(caller) == "leg-1"


@pytest.mark.parametrize(
    ("behaviour", "cause"),
    [("busy", "USER_BUSY"), ("no_answer", "NO_ANSWER"), ("not_registered", "USER_NOT_REGISTERED")],
)
async def test_an_endpoint_that_fails_ends_the_job_with_its_cause(
    fake: FakeFreeswitch, behaviour: str, cause: str
) -> None:
    fake.set_endpoint("user/ann", behaviour)
    wire = await connect(fake, "BACKGROUND_JOB")
    await wire.send("bgapi originate {origination_uuid=leg-2}user/ann &park()")
    job = await wire.event("BACKGROUND_JOB")
    assert job["_body"] == f"-ERR {cause}\n"
    assert "leg-2" not in fake.channels


async def test_hupall_by_variable_and_dropped_connections(fake: FakeFreeswitch) -> None:
    wire = await connect(fake, "CHANNEL_HANGUP_COMPLETE")
    await connect(fake)
    a = await fake.incoming_call(variables={"cc_call_id": "c1"})
    b = await fake.incoming_call()
    assert (await wire.send("api hupall NORMAL_CLEARING cc_call_id c1")).body.startswith(b"+OK")
    ended = await wire.event("CHANNEL_HANGUP_COMPLETE")
    assert ended["Unique-ID"] == a and ended["Hangup-Cause"] == "NORMAL_CLEARING"
    assert list(fake.channels) == [b]
    assert fake.connections == 1 and fake.subscriptions == 1
    fake.refuse_connections(True)
    await fake.drop_connections()
    refused = await opened(fake)
    assert await refused.reader.read() == b""  # refused: closed at once
    with pytest.raises(ValueError, match="behaviour"):
        fake.set_endpoint("user/x", "sometimes")
