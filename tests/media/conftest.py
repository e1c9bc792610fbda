"""Media test support: a recording FrameSink; `serve`, an AudioSocketHandler on a real
loopback TCP server, with the wire helpers the session tests share; `media_app`, the whole
app with Twilio and AudioSocket configured, against the real Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pytest
from blockbuster import blockbuster_ctx

from callcenter.app import create_app
from callcenter.media.audiosocket import AudioAlias, AudioSocketHandler, SessionEnd
from callcenter.media.audiosocket_protocol import ControlFrame, ErrorCode, Kind, encode_frame
from callcenter.media.frames import AudioFrame, Track
from callcenter.metrics import Metrics
from callcenter.settings import Secret, Settings
from callcenter.storage.embedded import free_port
from callcenter.web.state import MEDIA, METRICS
from tests.conftest import FIXTURES, AppClient
from tests.media import twilio_peer

SESSION = (FIXTURES / "asterisk" / "session.bin").read_bytes()
CALL_UUID = uuid.UUID("40325ec2-5efd-4bd3-805f-53576e581d13")
CALL_ID = str(CALL_UUID)
UUID_MESSAGE = encode_frame(Kind.UUID, CALL_UUID.bytes)
FRAME_SECONDS = 0.02


def sine_pcm(samples: int, rate: int = 8000, hz: float = 300.0) -> bytes:
    t = np.arange(samples) / rate
    return (np.sin(2 * np.pi * hz * t) * 6000).astype("<i2").tobytes()


def error_message(code: ErrorCode) -> bytes:
    return encode_frame(Kind.ERROR, bytes((code,)))


def rejections(metrics: Metrics, reason: str) -> float | None:
    return metrics.registry.get_sample_value(
        "callcenter_media_rejections_total", {"dialect": "asterisk", "reason": reason}
    )


@dataclass
class RecordingSink:
    """A FrameSink that records every call, in order."""

    calls: list[tuple[str, object]] = field(default_factory=list)
    got_frame: asyncio.Event = field(default_factory=asyncio.Event)

    def open_leg(self, call_id: str, track: Track, sample_rate: int) -> None:
        self.calls.append(("open", (call_id, track, sample_rate)))

    def frame(self, frame: AudioFrame) -> None:
        self.calls.append(("frame", frame))
        self.got_frame.set()

    def close_leg(self, call_id: str, track: Track) -> None:
        self.calls.append(("close", (call_id, track)))

    @property
    def frames(self) -> list[AudioFrame]:
        return [f for kind, f in self.calls if kind == "frame" and isinstance(f, AudioFrame)]

    def count(self, kind: str) -> int:
        return sum(1 for k, _ in self.calls if k == kind)

    @property
    def opened_legs(self) -> list[object]:
        return [leg for kind, leg in self.calls if kind == "open"]

    @property
    def closed_legs(self) -> list[object]:
        return [leg for kind, leg in self.calls if kind == "close"]


@dataclass
class Server:
    host: str
    port: int
    sink: RecordingSink
    events: list[tuple[str, ControlFrame]]
    ends: asyncio.Queue[SessionEnd]
    handler: AudioSocketHandler
    asked: list[str]  # the call ids the handler asked about, in order

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port)


class Serve(Protocol):
    def __call__(
        self,
        sink: RecordingSink | None = None,
        *,
        read_timeout: float = 10.0,
        metrics: Metrics | None = None,
        live: Collection[str] = (CALL_ID,),
        alias: AudioAlias | None = None,
    ) -> Awaitable[Server]: ...


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """`await serve(...)` -> an AudioSocketHandler on a real 127.0.0.1 server, for which
    the calls in `live` are live. Any blocking call our code makes on the event loop
    meanwhile fails the test."""
    servers: list[asyncio.Server] = []
    handlers: list[AudioSocketHandler] = []

    async def start(
        sink: RecordingSink | None = None,
        *,
        read_timeout: float = 10.0,
        metrics: Metrics | None = None,
        live: Collection[str] = (CALL_ID,),
        alias: AudioAlias | None = None,
    ) -> Server:
        recording = sink or RecordingSink()
        events: list[tuple[str, ControlFrame]] = []
        ends: asyncio.Queue[SessionEnd] = asyncio.Queue()
        asked: list[str] = []

        async def is_live(call_id: str) -> bool:
            asked.append(call_id)
            await asyncio.sleep(0)  # a real lookup awaits storage
            return call_id in live

        handler = AudioSocketHandler(
            recording,
            is_live=is_live,
            alias=alias,
            on_event=lambda call_id, frame: events.append((call_id, frame)),
            read_timeout=read_timeout,
            metrics=metrics,
        )

        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            ends.put_nowait(await handler(reader, writer))

        server = await asyncio.start_server(connection, "127.0.0.1", 0)
        servers.append(server)
        handlers.append(handler)
        host, port = server.sockets[0].getsockname()[:2]
        return Server(host, port, recording, events, ends, handler, asked)

    with blockbuster_ctx(scanned_modules=["callcenter"]):
        yield start
    for handler in handlers:
        await handler.close()
    for server in servers:
        server.close()
        await server.wait_closed()


async def write_in_pieces(writer: asyncio.StreamWriter, data: bytes, seed: int) -> None:
    """Write like a network would deliver: random piece sizes, with pauses."""
    rng = random.Random(seed)
    at = 0
    while at < len(data):
        size = rng.choice([1, 3, 50, 320, 323, 700])
        writer.write(data[at : at + size])
        await writer.drain()
        at += size
        if rng.random() < 0.3:
            await asyncio.sleep(0.001)


async def read_to_eof(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(5):
        return await reader.read()


async def paced(writer: asyncio.StreamWriter, messages: list[bytes], every: float) -> int:
    """Write one message every `every` seconds (on a schedule, so late ones catch up) until
    done or the server cuts the connection; returns how many were written."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    for index, message in enumerate(messages):
        await asyncio.sleep(max(0.0, began + index * every - loop.time()))
        try:
            writer.write(message)
            await writer.drain()
        except OSError:
            return index
    return len(messages)


@pytest.fixture
async def media_app(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: object,
) -> tuple[AppClient, RecordingSink]:
    """The app with Twilio and an AudioSocket listener configured, and a sink that records
    what its media hub passes on."""
    port = free_port()
    configured = dataclasses.replace(
        settings,
        twilio_account_sid=twilio_peer.ACCOUNT,
        twilio_auth_token=Secret(twilio_peer.TOKEN),
        audiosocket_port=free_port(),
        public_url=f"http://127.0.0.1:{port}",
    )
    client = await aiohttp_client(create_app(configured), server_kwargs={"port": port})
    recorder = RecordingSink()
    client.app[MEDIA].listeners.append(recorder)
    return client, recorder


def rejected(client: AppClient, dialect: str, reason: str) -> float | None:
    """media_rejections_total of the app for one dialect and reason (None: never counted)."""
    return client.app[METRICS].registry.get_sample_value(
        "callcenter_media_rejections_total", {"dialect": dialect, "reason": reason}
    )
