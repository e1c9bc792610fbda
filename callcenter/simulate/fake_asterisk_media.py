"""Live audio in the loopback ARI (simulate.fake_asterisk), the way Asterisk does it: snoop
channels (res_stasis_snoop) hearing a channel, AudioSocket external media channels
(chan_audiosocket) each holding a TCP connection to its external_host, and what a channel
says reaching, as 20 ms AudioSocket frames at real time, every external media channel in a
mixing bridge with a snoop on it. Refusals are those of res/ari/resource_channels.c."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from uuid import UUID

import msgspec
from aiohttp import web

from callcenter.simulate.fake_asterisk_state import AriModel, FakeChannel, Json, Refusal

FRAME_SECONDS = 0.02  # Asterisk's frames, and the snoop channel's timer (SNOOP_INTERVAL)
HANGUP, UUID_KIND = 0x00, 0x01
AUDIO_KINDS = {8000: 0x10, 16000: 0x12}  # signed linear 16-bit LE mono at 8 and 16 kHz
FORMAT_RATES = {"slin": 8000, "slin16": 16000}  # the external media formats the fake frames
_DIRECTIONS = frozenset({"", "none", "in", "out", "both"})
_HEARS_IN = frozenset({"in", "both"})
# A failed originate's own answer (500, or 409 for a channelId in use) is overwritten by
# ast_ari_channels_external_media with this one.
_INTERNAL = "An internal error prevented this request from being handled"
_CONNECT_SECONDS = 2.0
STASIS_SECONDS = 0.05  # from a snoop's or external media's answer to its StasisStart
GONE = 0  # ChannelDestroyed's cause when a channel's read fails: hangupcause is never set


def audiosocket_frame(kind: int, payload: bytes = b"") -> bytes:
    """One AudioSocket message: its kind byte, its length (big-endian uint16), its payload."""
    return bytes((kind,)) + len(payload).to_bytes(2, "big") + payload


@dataclass(frozen=True, slots=True)
class AriParams:
    """A request's parameters: the query's and a JSON body's (the body wins, as in ARI's
    *_parse_body), and the body's `variables` object."""

    values: dict[str, str]
    variables: dict[str, str] = field(default_factory=dict)


PARAMS = web.RequestKey("ari_params", AriParams)  # set by the fake's middleware


@dataclass(slots=True)
class FakeMedia:
    """The AudioSocket side of an external media channel."""

    uuid: str  # the `data` it was created with, sent first as the UUID message
    host_port: str
    format: str  # slin (8 kHz) or slin16
    frames_sent: int = 0  # audio messages written (not the UUID or the hangup)
    connected: bool = True
    snooping: str | None = None  # the channel it hears: a snoop's target in its bridge


@dataclass(frozen=True, slots=True)
class _Snoop:
    target: str
    spy: str


class LiveAudio:
    """The snoop and external media channels of an AriModel. `publish` sends events (and
    calls `settle` after them, so that the audio follows every change of the model)."""

    def __init__(self, model: AriModel, publish: Callable[[list[Json]], Awaitable[None]]) -> None:
        self.media: dict[str, FakeMedia] = {}  # by channel id, kept after the channel ends
        self._model = model
        self._publish = publish
        self._snoops: dict[str, _Snoop] = {}
        self._writers: dict[str, asyncio.StreamWriter] = {}  # the connections still open
        self._readers: dict[str, asyncio.Task[None]] = {}
        self._entering: set[asyncio.Task[None]] = set()

    def routes(self) -> list[web.RouteDef]:
        """Its ARI resources, served behind the fake's middleware (PARAMS, Refusals)."""
        snoop = "/ari/channels/{channelId}/snoop"
        return [
            web.post(snoop, self._snoop),
            web.post(snoop + "/{snoopId}", self._snoop),
            web.post("/ari/channels/externalMedia", self._external_media),
        ]

    async def _snoop(self, request: web.Request) -> web.Response:
        values = request[PARAMS].values
        snoop_id = request.match_info.get("snoopId") or values.get("snoopId", "")
        return _json(await self.snoop(request.match_info["channelId"], values, snoop_id))

    async def _external_media(self, request: web.Request) -> web.Response:
        params = request[PARAMS]
        return _json(await self.external_media(params.values, params.variables))

    async def snoop(self, target: str, values: dict[str, str], snoop_id: str) -> Json:
        """POST /channels/{target}/snoop[/{snoopId}]: an Up channel entering `app` with
        `appArgs`, hearing `target` (an id or a name). Refusal: 400, 404, 500 (id in use)."""
        spy = values.get("spy", "")
        for name, direction in (("spy", spy), ("whisper", values.get("whisper", ""))):
            if direction not in _DIRECTIONS:
                raise Refusal(400, f"Invalid direction specified for {name}")
        if spy in ("", "none") and values.get("whisper", "") in ("", "none"):
            raise Refusal(400, "Direction must be specified for at least spy or whisper")
        app, args = values.get("app", ""), values.get("appArgs", "")
        if not app:
            raise Refusal(400, "Application name is required")
        spied = self._named(target)
        if snoop_id in self._model.channels:  # ast_channel_alloc fails on a uniqueid in use
            raise Refusal(500, "Snoop channel could not be created")
        channel = self._model.new_channel(
            f"Snoop/{spied.id}",
            snoop_id,
            endpoint=None,
            caller="",
            exten="s",
            state="Up",
            app=app,
            app_args=args.split(",") if args else [],
        )
        self._snoops[channel.id] = _Snoop(spied.id, spy or "none")
        answer = self._model.channel_json(channel)  # the snapshot before Stasis runs it
        self._enter_stasis(channel.id)
        return answer

    async def external_media(self, values: dict[str, str], variables: dict[str, str]) -> Json:
        """POST /channels/externalMedia with encapsulation=audiosocket, transport=tcp: the
        connection to external_host (loopback only) and its UUID message, then the channel
        answers and enters `app` with args [data]. Refusal: 400, 500, 501."""
        host, port = _checked(values)
        data, audio_format = values["data"], values["format"]
        channel_id = values.get("channelId", "")
        if channel_id in self._model.channels or audio_format not in FORMAT_RATES:
            raise Refusal(500, _INTERNAL)
        try:
            leg = UUID(data)  # chan_audiosocket's uuid_parse
            async with asyncio.timeout(_CONNECT_SECONDS):
                reader, writer = await asyncio.open_connection(host, port)
        except (ValueError, OSError, TimeoutError):
            raise Refusal(500, _INTERNAL) from None
        channel = self._media_channel(values, variables)
        self.media[channel.id] = FakeMedia(data, values["external_host"], audio_format)
        self._writers[channel.id] = writer
        answer = self._model.channel_json(channel)  # the snapshot before the dial runs
        with contextlib.suppress(OSError):  # a peer gone already is seen by _watch
            writer.write(audiosocket_frame(UUID_KIND, leg.bytes))  # audiosocket_call
            await writer.drain()
        self._readers[channel.id] = asyncio.create_task(self._watch(channel.id, reader))
        self._enter_stasis(channel.id)
        return answer

    def _enter_stasis(self, channel_id: str) -> None:
        """The new channel answers and enters its application after the answer is sent,
        as Asterisk's own threads do (snoop_stasis_thread, the originate's dial thread):
        until then, adding it to a bridge is refused (422)."""

        async def enter() -> None:
            await asyncio.sleep(STASIS_SECONDS)
            if channel_id in self._model.channels:
                await self._publish(self._model.answered_leg(channel_id))

        task = asyncio.get_running_loop().create_task(enter())
        self._entering.add(task)
        task.add_done_callback(self._entering.discard)

    def _named(self, target: str) -> FakeChannel:
        """ast_channel_get_by_name: the channel with this id, else with this name."""
        channels = self._model.channels
        found = channels.get(target) or next(
            (channel for channel in channels.values() if channel.name == target), None
        )
        if found is None:
            raise Refusal(404, "Provided channel was not found")
        return found

    def _media_channel(self, values: dict[str, str], variables: dict[str, str]) -> FakeChannel:
        """AudioSocket/<host:port>-<uuid>, dialled as AudioSocket/<host:port>/<uuid>."""
        host_port, data = values["external_host"], values["data"]
        channel = self._model.new_channel(
            f"AudioSocket/{host_port}",
            values.get("channelId", ""),
            endpoint=f"AudioSocket/{host_port}/{data}",
            caller="",
            exten="s",
            state="Down",
            app=values["app"],
            app_args=data.split(","),
            app_name="AppDial2",
            app_data="(Outgoing Line)",
            variables=variables | {"AUDIOSOCKET_UUID": data, "AUDIOSOCKET_SERVICE": host_port},
        )
        channel.name = f"AudioSocket/{host_port}-{data}"  # no sequence number in this one
        return channel

    async def speak(self, channel_id: str, pcm: bytes, sample_rate: int) -> None:
        """`channel_id` says `pcm` (16-bit LE mono): one 20 ms frame each 20 ms to every
        external media channel hearing it then; returns after the last one. KeyError for
        an unknown channel; ValueError for a rate or length that is not audio, or a
        listener at another rate (nothing is resampled)."""
        if channel_id not in self._model.channels:
            raise KeyError(channel_id)
        if sample_rate not in AUDIO_KINDS or len(pcm) % 2:
            raise ValueError(f"not 16-bit audio at 8 or 16 kHz: {len(pcm)} bytes, {sample_rate}")
        size = int(sample_rate * FRAME_SECONDS) * 2
        loop = asyncio.get_running_loop()
        due = loop.time()
        for start in range(0, len(pcm), size):
            if channel_id not in self._model.channels:
                return  # hung up: it says no more
            await asyncio.sleep(max(0.0, due - loop.time()))
            await self._send_audio(channel_id, pcm[start : start + size], sample_rate)
            # late by more than a frame (a stalled loop): go on from now, not in a burst
            due = max(due + FRAME_SECONDS, loop.time())

    async def _send_audio(self, channel_id: str, pcm: bytes, sample_rate: int) -> None:
        listeners = [m for m in self._writers if channel_id in self._heard_by(m)]
        for media_id in listeners:
            media = self.media[media_id]
            if FORMAT_RATES[media.format] != sample_rate:
                raise ValueError(f"{media_id} takes {media.format}, not {sample_rate} Hz audio")
        frame = audiosocket_frame(AUDIO_KINDS[sample_rate], pcm)
        for media_id in listeners:
            writer = self._writers.get(media_id)
            if writer is None:  # hung up while an earlier one was written
                continue
            try:
                writer.write(frame)
                await writer.drain()
            except OSError:
                continue  # the peer is going: _watch hangs the channel up
            self.media[media_id].frames_sent += 1

    def _heard_by(self, media_id: str) -> list[str]:
        """What an external media channel hears: the targets of the snoops spying `in` in
        its mixing bridge."""
        channel = self._model.channels.get(media_id)
        bridge = self._model.bridges.get(channel.bridge_id or "") if channel else None
        if bridge is None or bridge.bridge_type != "mixing":
            return []
        snoops = [self._snoops[c] for c in bridge.channels if c in self._snoops]
        return [snoop.target for snoop in snoops if snoop.spy in _HEARS_IN]

    async def settle(self) -> None:
        """After a change: a snoop whose target is gone ends (its audiohook detached); a
        media channel gone closes its connection (a hangup message first); `snooping`."""
        await self._end_snoops()
        for media_id in [m for m in self._writers if m not in self._model.channels]:
            await self._hang_up(media_id)
        for media_id in self._writers:
            heard = self._heard_by(media_id)
            self.media[media_id].snooping = heard[0] if heard else None

    async def _end_snoops(self) -> None:
        channels = self._model.channels
        ended = [s for s, snoop in self._snoops.items() if snoop.target not in channels]
        for snoop_id in [s for s in self._snoops if s not in channels] + ended:
            if self._snoops.pop(snoop_id, None) is not None and snoop_id in channels:
                await self._publish(self._model.vanish(snoop_id, GONE))

    async def _hang_up(self, media_id: str) -> None:
        writer = self._writers.pop(media_id, None)
        reader = self._readers.pop(media_id, None)
        if reader is not None:  # never the current task: _watch forgets itself first
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        if writer is not None:
            await self._disconnect(media_id, writer, hangup=True)

    async def _watch(self, channel_id: str, reader: asyncio.StreamReader) -> None:
        """What the peer sends is read and dropped; its hangup message or its closing hangs
        the channel up, as chan_audiosocket's read failing does."""
        with contextlib.suppress(asyncio.IncompleteReadError, OSError):
            while True:
                header = await reader.readexactly(3)
                await reader.readexactly(int.from_bytes(header[1:], "big"))
                if header[0] == HANGUP:
                    break
        self._readers.pop(channel_id, None)  # before any await: settle must not cancel it
        writer = self._writers.pop(channel_id, None)
        if writer is not None:
            await self._disconnect(channel_id, writer, hangup=False)
        if channel_id in self._model.channels:
            await self._publish(self._model.vanish(channel_id, GONE))

    async def _disconnect(
        self, channel_id: str, writer: asyncio.StreamWriter, *, hangup: bool
    ) -> None:
        self.media[channel_id].connected = False
        with contextlib.suppress(OSError):
            if hangup:
                writer.write(audiosocket_frame(HANGUP))
                await writer.drain()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    async def close(self) -> None:
        """Asterisk going away: every connection closes, without a hangup message."""
        readers = [*self._readers.values(), *self._entering]
        self._readers.clear()
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        for media_id, writer in list(self._writers.items()):
            del self._writers[media_id]
            await self._disconnect(media_id, writer, hangup=False)


def _checked(values: dict[str, str]) -> tuple[str, int]:
    """externalMedia's parameters checked in ARI's order (400, then 501 for all but
    audiosocket over tcp, which the fake does); the host and port to connect to."""
    if not values.get("app"):
        raise Refusal(400, "app cannot be empty")
    encapsulation, transport = _transport(values)
    if transport != "websocket" and values.get("connection_type") == "server":
        raise Refusal(400, "'server' connection_type can only be used with the websocket transport")
    host, port = _host_port(values.get("external_host", ""))
    if not values.get("format"):
        raise Refusal(400, "format cannot be empty")
    if values.get("direction", "") not in ("", "both", "in", "out"):
        raise Refusal(400, "Invalid direction specified")
    if (encapsulation, transport) != ("audiosocket", "tcp"):
        raise Refusal(501, "The encapsulation and/or transport is not supported")
    if not values.get("data"):
        raise Refusal(400, "data can not be empty")
    if not _loopback(host):
        raise Refusal(400, f"the fake Asterisk connects to loopback addresses only, not {host}")
    return host, port


def _transport(values: dict[str, str]) -> tuple[str, str]:
    """The encapsulation (rtp by default) and the transport (udp) if they go together."""
    transport = values.get("transport") or "udp"
    encapsulation = values.get("encapsulation") or "rtp"
    if transport == "websocket" and encapsulation != "none":
        raise Refusal(400, "encapsulation must be 'none' for websocket transport")
    if encapsulation == "rtp" and transport != "udp":
        raise Refusal(400, "transport must be 'udp' for rtp encapsulation")
    if encapsulation == "audiosocket" and transport != "tcp":
        raise Refusal(400, "transport must be 'tcp' for audiosocket encapsulation")
    return encapsulation, transport


def _host_port(external_host: str) -> tuple[str, int]:
    """host:port or [v6]:port, the port required (ast_sockaddr_split_hostport)."""
    if not external_host:
        raise Refusal(400, "external_host is required for all but websocket server connections")
    host, _, port = external_host.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not (host and port.isdigit() and 0 < int(port) < 65536):
        raise Refusal(400, "external_host must be <host>:<port> for all but websocket")
    return host, int(port)


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: only localhost is known to be this machine
        return False


def _json(body: Json) -> web.Response:
    return web.Response(body=msgspec.json.encode(body), content_type="application/json")
