"""Asterisk's ARI REST API, the calls call control makes: answer, hold in a bridge with
music, originate an agent's leg, bridge two channels, hang up, list channels.

Every request authenticates with HTTP Basic (the ari.conf user) and goes through the REST
clients' retry loop (gateways.rest_retries): a connection that never opened, or a 502, 503
or 504, is sent again a few times; a request that may have been acted on (no answer) is
not. Any other error is final and raised as AriError with ARI's own message ("Channel not
found")."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import msgspec

from callcenter.backoff import Backoff
from callcenter.gateways.asterisk.ari_events import Channel
from callcenter.gateways.rest_retries import Answer, RetryPolicy, send_with_retries

_ATTEMPTS = 3
_CHANNELS = msgspec.json.Decoder(list[Channel])


class AriError(Exception):
    """ARI refused a request (or never answered it): `status` 0 when unreachable."""

    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        super().__init__(method, path, status, message)
        self.method = method
        self.path = path
        self.status = status
        self.message = message

    def __str__(self) -> str:
        where = f"{self.method} {self.path}"
        if self.status == 0:
            return f"ARI {where} unreachable: {self.message}"
        return f"ARI {where} answered {self.status}: {self.message}"

    @property
    def not_found(self) -> bool:
        return self.status == 404 or (self.status == 400 and "not found" in self.message.lower())


class AriRest:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        username: str,
        password: str,
        *,
        backoff: Backoff | None = None,
    ) -> None:
        """`base_url` is Asterisk's HTTP server (http://pbx:8088); ARI lives under /ari.
        Raises ValueError for a URL that is not http(s)."""
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("the ARI URL must be http:// or https:// with a host")
        self._session = session
        self._base = base_url.rstrip("/") + "/ari"
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._auth = {"Authorization": f"Basic {token}"}
        self._backoff = backoff or Backoff(0.2, 2.0)

    @property
    def events_url(self) -> str:
        """The events websocket's URL (ws:// or wss://), without its query."""
        return self._base.replace("http", "ws", 1) + "/events"

    @property
    def auth_headers(self) -> dict[str, str]:
        """HTTP Basic, for the events websocket's upgrade request."""
        return dict(self._auth)

    async def answer(self, channel_id: str) -> None:
        await self._call("POST", f"/channels/{_q(channel_id)}/answer")

    async def hang_up(self, channel_id: str, reason: str = "normal") -> None:
        await self._call("DELETE", f"/channels/{_q(channel_id)}", {"reason": reason})

    async def hold(self, channel_id: str, bridge_id: str, music_class: str) -> None:
        """Put the channel in a holding bridge (made if new) playing `music_class`."""
        await self._create_bridge(bridge_id, "holding")
        await self._call("POST", f"/bridges/{_q(bridge_id)}/addChannel", {"channel": channel_id})
        await self._call("POST", f"/bridges/{_q(bridge_id)}/moh", {"mohClass": music_class})

    async def bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        """Both channels talking in a mixing bridge (made if new); each leaves the bridge
        it was in."""
        await self._create_bridge(bridge_id, "mixing")
        channels = ",".join(channel_ids)
        await self._call("POST", f"/bridges/{_q(bridge_id)}/addChannel", {"channel": channels})

    async def _create_bridge(self, bridge_id: str, kind: str) -> None:
        """Made, or there already (409 since Asterisk 20.12/22.2; 200 before)."""
        try:
            await self._call("POST", f"/bridges/{_q(bridge_id)}", {"type": kind})
        except AriError as error:
            if error.status != 409:
                raise

    async def bridge_channels(self, bridge_id: str) -> list[str]:
        """The channels in a bridge; [] when there is no such bridge."""
        try:
            found = await self._call("GET", f"/bridges/{_q(bridge_id)}")
        except AriError as error:
            if error.not_found:
                return []
            raise
        channels = found.get("channels", []) if isinstance(found, dict) else []
        return [str(channel) for channel in channels]

    async def destroy_bridge(self, bridge_id: str) -> None:
        """Gone already is fine."""
        try:
            await self._call("DELETE", f"/bridges/{_q(bridge_id)}")
        except AriError as error:
            if not error.not_found:
                raise

    async def originate(
        self,
        endpoint: str,
        *,
        channel_id: str,
        app: str,
        app_args: list[str],
        caller_id: str | None,
        timeout_seconds: int,
    ) -> None:
        """Place a call to `endpoint` that enters `app` with `app_args` once answered."""
        params = {
            "endpoint": endpoint,
            "app": app,
            "appArgs": ",".join(app_args),
            "channelId": channel_id,
            "timeout": str(timeout_seconds),
        }
        if caller_id:
            params["callerId"] = caller_id
        await self._call("POST", "/channels", params)

    async def snoop(self, channel_id: str, snoop_id: str, *, app: str, app_arg: str) -> None:
        """A channel hearing what `channel_id` says (spy in), entering `app`."""
        params = {"spy": "in", "app": app, "appArgs": app_arg, "snoopId": snoop_id}
        await self._call("POST", f"/channels/{_q(channel_id)}/snoop", params)

    async def external_media(
        self, channel_id: str, *, app: str, host_port: str, audio_format: str, uuid: str
    ) -> None:
        """A channel whose audio Asterisk sends to `host_port` over AudioSocket (TCP),
        naming itself with `uuid`."""
        params = {
            "app": app,
            "channelId": channel_id,
            "external_host": host_port,
            "format": audio_format,
            "encapsulation": "audiosocket",
            "transport": "tcp",
            "data": uuid,
        }
        await self._call("POST", "/channels/externalMedia", params)

    async def hang_up_if_there(self, channel_id: str) -> None:
        """Gone already is fine."""
        try:
            await self.hang_up(channel_id)
        except AriError as error:
            if not error.not_found:
                raise

    async def channels(self) -> list[Channel]:
        """Every channel Asterisk has now."""
        raw = await self._call("GET", "/channels", raw=True)
        try:
            return _CHANNELS.decode(raw)
        except msgspec.DecodeError as error:
            raise AriError("GET", "/channels", 200, f"not a channel list: {error}") from None

    async def _call(
        self, method: str, path: str, params: Mapping[str, str] | None = None, *, raw: bool = False
    ) -> Any:
        """The answer's JSON (None for 204), or its bytes with `raw`. Raises AriError."""

        async def send() -> Answer:
            async with self._session.request(
                method, self._base + path, params=params, headers=self._auth
            ) as answer:
                return Answer(answer.status, await answer.read())

        policy = RetryPolicy(
            service="ARI",
            backoff=self._backoff,
            attempts=_ATTEMPTS,
            failure=lambda answer: AriError(method, path, answer.status, _message(answer.body)),
            lost=lambda reason: AriError(method, path, 0, reason),
            retryable=_retryable,
        )
        body = await send_with_retries(send, policy, f"{method} {path}")
        if raw:
            return body
        try:
            return msgspec.json.decode(body) if body else None
        except msgspec.DecodeError:
            raise AriError(method, path, 200, "an answer that is not JSON") from None


def _retryable(error: AriError) -> bool:
    """Asterisk could not be reached, or is overloaded or restarting: send again. A 500
    ("Allocation failed", an internal error) is its answer to this request."""
    return error.status in (0, 502, 503, 504)


def _q(segment: str) -> str:
    return quote(segment, safe="")


def _message(body: bytes) -> str:
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body[:200].decode("utf-8", "replace")
    if isinstance(decoded, dict):  # ARI says {"message": ...}, or {"error": ...} (a 500)
        for key in ("message", "error"):
            if isinstance(decoded.get(key), str):
                return str(decoded[key])
    return body[:200].decode("utf-8", "replace")
