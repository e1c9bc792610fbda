"""Live audio of ARI calls: for a leg to listen to (the caller's once held, the agent's
once bridged), a snoop channel hears what it says and an external media channel sends that
to our AudioSocket listener (Asterisk connects to CALLCENTER_ASTERISK_AUDIOSOCKET_ADDRESS),
the two in their own mixing bridge. The external media channel names itself with a UUID
made for the leg; `alias` tells the AudioSocket listener which call and track it is.

Aliases are kept in this instance's memory: Asterisk connects to the address this instance
was given, so the connection comes here. A UUID not found there (this instance restarted,
and Asterisk reconnects a leg it listened to before) is looked up among Asterisk's
channels: the external media channel named after it (`AudioSocket/<host:port>-<uuid>`)
has the id `cc-media:<track>:<call>`."""

from __future__ import annotations

import asyncio
import logging
import uuid

from callcenter.gateways.asterisk.ari_events import Channel
from callcenter.gateways.asterisk.ari_rest import AriError, AriRest

logger = logging.getLogger(__name__)

LISTING_SECONDS = 1.0
_MEDIA_PREFIX = "cc-media:"
_TRACKS = ("caller", "agent")
_NAMESPACE = uuid.UUID("6f1c5d3e-8a5b-4c1e-9a43-0c2b7d6e9f10")  # ours: leg UUIDs
CHANNEL_PREFIXES = ("cc-snoop:", "cc-media:")
_NOT_IN_STASIS = 422  # "Channel not in Stasis application", when adding it to a bridge
_STASIS_ATTEMPTS = 10  # about 3.5 s in all


def snoop_id(call_id: str, track: str) -> str:
    return f"cc-snoop:{track}:{call_id}"


def media_id(call_id: str, track: str) -> str:
    return f"{_MEDIA_PREFIX}{track}:{call_id}"


def media_bridge(call_id: str, track: str) -> str:
    return f"cc-media-{track}-{call_id}"


def listening_call(channel_id: str) -> str | None:
    """The call a snoop or external media channel of ours listens to; None otherwise."""
    for prefix in CHANNEL_PREFIXES:
        if channel_id.startswith(prefix):
            _, _, call_id = channel_id.removeprefix(prefix).partition(":")
            return call_id or None
    return None


class AriListener:
    def __init__(self, rest: AriRest, *, app: str, address: str, audio_format: str) -> None:
        """`address`: host:port of our AudioSocket listener as Asterisk reaches it."""
        self._rest = rest
        self._app = app
        self._address = address
        self._format = audio_format
        self._aliases: dict[str, tuple[str, str]] = {}
        self._listing: tuple[float, list[Channel]] | None = None  # when read, what
        self._listing_lock = asyncio.Lock()

    async def alias(self, leg_uuid: str) -> tuple[str, str] | None:
        """(call id, track) of a UUID handed to Asterisk for a leg; None for one Asterisk
        has no external media channel for (or when it cannot be asked)."""
        key = leg_uuid.lower()
        known = self._aliases.get(key)
        if known is not None:
            return known
        try:
            channels = await self._channels()
        except AriError as error:
            logger.warning("AudioSocket UUID %s not looked up: %s", key, error)
            return None
        for channel in channels:
            track, _, call_id = channel.id.removeprefix(_MEDIA_PREFIX).partition(":")
            named = channel.name.lower().endswith(f"-{key}")
            if channel.id.startswith(_MEDIA_PREFIX) and named and track in _TRACKS and call_id:
                self._aliases[key] = (call_id, track)
                return call_id, track
        return None

    async def _channels(self) -> list[Channel]:
        """Asterisk's channels, listed at most once a LISTING_SECONDS: the legs of a
        restarted instance reconnect together and share one listing, and connections
        naming unknown UUIDs cannot make Asterisk list its channels for each."""
        async with self._listing_lock:
            now = asyncio.get_running_loop().time()
            if self._listing is None or now - self._listing[0] >= LISTING_SECONDS:
                self._listing = (now, await self._rest.channels())
            return self._listing[1]

    async def listen(self, call_id: str, channel_id: str, track: str) -> None:
        """Send what `channel_id` says, as `track` of `call_id`, to our listener.
        Raises AriError (422 when the new channels never entered the application)."""
        leg_uuid = str(uuid.uuid5(_NAMESPACE, f"{channel_id}:{track}"))
        self._aliases[leg_uuid] = (call_id, track)
        snoop, media = snoop_id(call_id, track), media_id(call_id, track)
        await self._rest.snoop(channel_id, snoop, app=self._app, app_arg="snoop")
        await self._rest.external_media(
            media,
            app=self._app,
            host_port=self._address,
            audio_format=self._format,
            uuid=leg_uuid,
        )
        await self._bridge_once_in_stasis(media_bridge(call_id, track), [snoop, media])

    async def _bridge_once_in_stasis(self, bridge_id: str, channels: list[str]) -> None:
        """Asterisk answers a snoop or externalMedia request before the new channel has
        entered the application (its own thread puts it there), and refuses it in a
        bridge until then (422): ask again, for a few seconds."""
        for attempt in range(1, _STASIS_ATTEMPTS + 1):
            try:
                await self._rest.bridge(bridge_id, channels)
                return
            except AriError as error:
                if error.status != _NOT_IN_STASIS or attempt == _STASIS_ATTEMPTS:
                    raise
            await asyncio.sleep(min(0.02 * 2**attempt, 0.5))

    async def stop(self, call_id: str) -> None:
        """The call is over: its external media channels hung up (snoop channels end with
        the channel they hear), its media bridges removed, its aliases forgotten."""
        for track in ("caller", "agent"):
            await self._rest.hang_up_if_there(media_id(call_id, track))
            await self._rest.destroy_bridge(media_bridge(call_id, track))
        self._aliases = {k: v for k, v in self._aliases.items() if v[0] != call_id}
