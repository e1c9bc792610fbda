"""A loopback Asterisk ARI (REST under /ari, the /ari/events websocket) for the tests and
the traffic simulator: the wire format of Asterisk's rest-api/api-docs (the model is
simulate.fake_asterisk_state), driven from Python (calls arrive, press keys, hang up;
endpoints answer, ring out, are busy; websockets drop or are refused). 127.0.0.1 only.
Live audio (snoop, externalMedia over AudioSocket, `speak`) is simulate.fake_asterisk_media.

As in Asterisk, an application's events go to the websocket that registered it last (the
one replaced gets ApplicationReplaced, then nothing), and any websocket of the application
closing unregisters it (stasis_app_unregister), even when another one now holds it."""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import hdrs, web

from callcenter.simulate.fake_asterisk_media import PARAMS, AriParams, FakeMedia, LiveAudio
from callcenter.simulate.fake_asterisk_state import (
    BUSY,
    NO_ANSWER,
    NORMAL,
    AriModel,
    FakeBridge,
    FakeChannel,
    Json,
    Refusal,
    dial_timeout,
    hangup_cause,
)
from callcenter.simulate.polling import wait_until

__all__ = ["ENDPOINT_BEHAVIOURS", "FakeAsterisk", "FakeBridge", "FakeChannel", "FakeMedia"]

ENDPOINT_BEHAVIOURS = frozenset({"answer", "no_answer", "busy", "unreachable"})
_DTMF = frozenset("0123456789ABCD*#")
_REALM = "Asterisk REST Interface"  # ari.conf auth_realm's default
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeAsterisk:
    def __init__(
        self, *, app: str = "callcenter", username: str = "callcenter", password: str = "secret"
    ) -> None:
        self.app = app
        self._credentials = (username, password)
        self._model = AriModel(time.time)
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.connections_opened = 0  # events websockets accepted so far
        self._sockets: dict[web.WebSocketResponse, asyncio.BaseTransport | None] = {}
        self._registered: dict[str, web.WebSocketResponse] = {}  # application → websocket
        self._endpoints: dict[str, tuple[str, float]] = {}
        self._dials: dict[str, asyncio.Task[None]] = {}  # originated legs still ringing
        self._refusing = False
        self._send_lock = asyncio.Lock()  # one sender at a time keeps Asterisk's order
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._audio = LiveAudio(self._model, self._publish)
        self.media: dict[str, FakeMedia] = self._audio.media  # external media channels by id

    @property
    def channels(self) -> dict[str, FakeChannel]:
        return self._model.channels

    @property
    def bridges(self) -> dict[str, FakeBridge]:
        return self._model.bridges

    @property
    def connections(self) -> int:
        """Events websockets open now."""
        return len(self._sockets)

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT (ARI is under /ari). Raises RuntimeError before start()."""
        if self._base_url is None:
            raise RuntimeError("the fake Asterisk is not started")
        return self._base_url

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on `host` (a loopback address; ValueError otherwise); the base URL."""
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the fake Asterisk serves loopback only, not {host}")
        app = web.Application(middlewares=[self._ari_middleware])
        app.add_routes(self._routes())
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound_port = self._runner.addresses[0][1]
        self._base_url = f"http://{host}:{bound_port}"
        return self._base_url

    async def stop(self) -> None:
        dials = list(self._dials.values())
        for task in dials:
            task.cancel()
        await asyncio.gather(*dials, return_exceptions=True)
        await self._audio.close()
        for socket in list(self._sockets):
            await socket.close(code=1001, message=b"going away")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def incoming_call(
        self,
        caller: str = "+15551230000",
        exten: str = "+15559870000",
        *,
        variables: dict[str, str] | None = None,
        channel_id: str = "",
    ) -> str:
        """A call from the trunk enters the application (StasisStart, args []); its id
        (`channel_id`, else a new uniqueid)."""
        channel, events = self._model.arrive(caller, exten, self.app, variables or {}, channel_id)
        await self._publish(events)
        return channel.id

    async def press(self, channel_id: str, digits: str) -> None:
        """One ChannelDtmfReceived per digit. KeyError for an unknown channel, ValueError
        for a digit DTMF does not have."""
        if not set(digits) <= _DTMF:
            raise ValueError(f"not DTMF digits: {digits!r}")
        for digit in digits:
            await self._publish(self._model.dtmf(channel_id, digit))

    async def hang_up(self, channel_id: str, cause: int = NORMAL) -> None:
        """The far end hangs up. KeyError for an unknown channel."""
        self._end_dial(channel_id)
        await self._publish(self._model.hang_up(channel_id, cause, by_ari=False))

    async def speak(self, channel_id: str, pcm: bytes, *, sample_rate: int = 16000) -> None:
        """`channel_id` says `pcm`: see LiveAudio.speak (simulate.fake_asterisk_media)."""
        await self._audio.speak(channel_id, pcm, sample_rate)

    def set_endpoint(self, endpoint: str, behaviour: str, *, after_seconds: float = 0.05) -> None:
        """How a leg originated to `endpoint` goes, `after_seconds` after ringing: answer
        (the default), no_answer (or at the originate's timeout if sooner: cause 19), busy
        (cause 17), unreachable (nothing registered: the originate itself fails, 500)."""
        if behaviour not in ENDPOINT_BEHAVIOURS:
            raise ValueError(f"behaviour is one of {sorted(ENDPOINT_BEHAVIOURS)}")
        self._endpoints[endpoint] = (behaviour, after_seconds)

    async def drop_connections(self) -> None:
        """Cut every events websocket's connection, without a close frame."""
        for transport in list(self._sockets.values()):
            if isinstance(transport, asyncio.Transport):
                transport.abort()
        await self.wait_for(lambda: self.connections == 0)

    def refuse_connections(self, refuse: bool) -> None:
        """While True, an events websocket upgrade is answered 503."""
        self._refusing = refuse

    async def send_raw(self, text: str) -> None:
        """One text frame to every open events websocket, as it is."""
        async with self._send_lock:
            for socket in list(self._sockets):
                await _send(socket, text)

    # the API the tests and the simulator call takes `timeout=` (not asyncio.timeout)
    async def wait_connected(self, count: int = 1, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        await self.wait_for(lambda: self.connections >= count, timeout)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Until `predicate()` holds; TimeoutError after `timeout` seconds."""
        await wait_until(predicate, timeout, "the fake Asterisk")

    async def _publish(self, events: list[Json]) -> None:
        """Each event to the websocket its application is registered on, if any; then the
        live audio follows the change."""
        async with self._send_lock:
            for event in events:
                socket = self._registered.get(event["application"])
                if socket is not None:
                    await _send(socket, msgspec.json.encode(event).decode())
        await self._audio.settle()

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if self._refusing:
            raise Refusal(503, "Asterisk not booted")
        apps = [app.strip() for app in request.query.get("app", "").split(",") if app.strip()]
        if not apps:  # ast_http_error's page in Asterisk: nobody reads it
            return web.Response(status=400, text="HTTP request is missing param: [app]")
        socket = web.WebSocketResponse(timeout=1.0)
        await socket.prepare(request)
        try:
            await self._register(socket, apps)  # before it counts as connected
            self._sockets[socket] = request.transport
            self.connections_opened += 1
            async for _ in socket:  # what the application sends is not read here
                pass
        finally:
            for app in apps:  # stasis_app_unregister: whoever holds the application now
                self._registered.pop(app, None)
            self._sockets.pop(socket, None)
        return socket

    async def _register(self, socket: web.WebSocketResponse, apps: list[str]) -> None:
        async with self._send_lock:
            for app in apps:
                replaced = self._registered.get(app)
                if replaced is not None and replaced is not socket:
                    event = self._model.event("ApplicationReplaced", app)
                    await _send(replaced, msgspec.json.encode(event).decode())
                self._registered[app] = socket

    def _dial(self, channel: FakeChannel, ring_seconds: float | None) -> None:
        task = asyncio.get_running_loop().create_task(self._ring(channel, ring_seconds))
        self._dials[channel.id] = task
        task.add_done_callback(lambda _: self._dials.pop(channel.id, None))

    def _end_dial(self, channel_id: str) -> None:
        task = self._dials.pop(channel_id, None)
        if task is not None:
            task.cancel()

    async def _ring(self, channel: FakeChannel, ring_seconds: float | None) -> None:
        behaviour, after = self._endpoints.get(channel.endpoint or "", ("answer", 0.05))
        if behaviour != "busy":  # a busy phone answers 486 without ringing first
            await self._publish(self._model.set_state(channel.id, "Ringing"))
        limit = after if ring_seconds is None else min(after, ring_seconds)
        answers = behaviour == "answer" and limit == after
        await asyncio.sleep(limit)
        if channel.id not in self.channels:
            return
        if answers:
            events = self._model.answered_leg(channel.id)
        else:  # dial.c: at the timeout the leg is hung up with AST_CAUSE_NO_ANSWER
            events = self._model.destroy(channel.id, BUSY if behaviour == "busy" else NO_ANSWER)
        await self._publish(events)

    def _routes(self) -> list[web.RouteDef]:
        m, ev = self._model, self._evented
        channel, bridge = "/ari/channels/{channelId}", "/ari/bridges/{bridgeId}"
        return [
            web.get("/ari/events", self._events),
            web.get(
                "/ari/channels", _body(lambda r: list(map(m.channel_json, m.channels.values())))
            ),
            web.post("/ari/channels", self._originate),
            web.get(channel, _body(lambda r: m.channel_json(m.channel(_id(r))))),
            web.delete(channel, self._hang_up_channel),
            web.post(channel + "/answer", ev(lambda r: m.answer(_id(r)))),
            web.post(channel + "/moh", ev(lambda r: m.channel_moh(_id(r), _moh(r)))),
            web.delete(channel + "/moh", ev(lambda r: m.channel_moh(_id(r), None))),
            web.get("/ari/bridges", _body(lambda r: list(map(m.bridge_json, m.bridges.values())))),
            web.post("/ari/bridges", _body(self._create_bridge)),
            web.get(bridge, _body(lambda r: m.bridge_json(m.bridge(_id(r))))),
            web.post(bridge, _body(self._create_bridge)),
            web.delete(bridge, ev(lambda r: m.destroy_bridge(_id(r)))),
            web.post(bridge + "/addChannel", ev(lambda r: m.add_channels(_id(r), _channels(r)))),
            web.post(
                bridge + "/removeChannel", ev(lambda r: m.remove_channels(_id(r), _channels(r)))
            ),
            web.post(bridge + "/moh", ev(lambda r: m.bridge_moh(_id(r), _moh(r)))),
            web.delete(bridge + "/moh", ev(lambda r: m.bridge_moh(_id(r), None))),
            *self._audio.routes(),
        ]

    def _evented(self, operation: Callable[[web.Request], list[Json]]) -> Handler:
        """A handler answering 204 once the operation's events are sent."""

        async def handle(request: web.Request) -> web.StreamResponse:
            await self._publish(operation(request))
            return web.Response(status=204)

        return handle

    @web.middleware
    async def _ari_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Authentication first (as res_ari does), then the parameters (recorded), then
        Refusals and unknown paths as ARI's JSON errors."""
        if not self._authorized(request):
            response = _json({"message": "Authentication required"}, 401)
            response.headers[hdrs.WWW_AUTHENTICATE] = f'Basic realm="{_REALM}"'
            return response
        try:
            request[PARAMS] = params = await _read_params(request)
            if request.path != "/ari/events":
                self.requests.append((request.method, request.path, params.values))
            return await handler(request)
        except Refusal as refusal:
            return _json(refusal.body, refusal.status)
        except web.HTTPNotFound:
            return _json({"message": "Resource not found"}, 404)

    def _authorized(self, request: web.Request) -> bool:
        """HTTP Basic when the header is there, otherwise ?api_key=user:password."""
        header = request.headers.get(hdrs.AUTHORIZATION)
        if header is None:
            credentials = request.query.get("api_key", "")
        else:
            scheme, _, encoded = header.partition(" ")
            try:
                credentials = base64.b64decode(encoded, validate=True).decode("latin1")
            except (ValueError, binascii.Error):
                return False
            if scheme.lower() != "basic":
                return False
        user, colon, password = credentials.partition(":")
        return bool(colon) and (user, password) == self._credentials

    async def _originate(self, request: web.Request) -> web.Response:
        params = request[PARAMS]
        values = params.values
        behaviour, _ = self._endpoints.get(values.get("endpoint", ""), ("answer", 0.0))
        reachable = behaviour != "unreachable"
        channel = self._model.originate(values, params.variables, reachable=reachable)
        self._dial(channel, dial_timeout(values.get("timeout", "")))
        return _json(self._model.channel_json(channel))

    async def _hang_up_channel(self, request: web.Request) -> web.Response:
        channel_id = self._model.channel(_id(request)).id
        cause = hangup_cause(request[PARAMS].values)
        self._end_dial(channel_id)
        await self._publish(self._model.hang_up(channel_id, cause, by_ari=True))
        return web.Response(status=204)

    def _create_bridge(self, request: web.Request) -> Json:
        values = request[PARAMS].values
        bridge_id = request.match_info.get("bridgeId") or values.get("bridgeId", "")
        kinds, name = values.get("type", "mixing"), values.get("name", "")
        return self._model.bridge_json(self._model.create_bridge(bridge_id, kinds, name))


async def _send(socket: web.WebSocketResponse, text: str) -> None:
    if socket.closed:
        return
    try:
        await socket.send_str(text)
    except ConnectionResetError:
        pass  # the connection is going; its handler forgets the socket


async def _read_params(request: web.Request) -> AriParams:
    """The query, overridden by a JSON body's keys; 400 for a body that is not a JSON
    object. `api_key` is left out: it is a password."""
    values = {key: value for key, value in request.query.items() if key != "api_key"}
    if not (request.body_exists and request.content_type == "application/json"):
        return AriParams(values)
    try:
        body = msgspec.json.decode(await request.read())
    except msgspec.DecodeError:
        raise Refusal(400, "Error parsing request body") from None
    if not isinstance(body, dict):
        raise Refusal(400, "Error parsing request body")
    variables = body.pop("variables", {})
    values |= {key: _text(value) for key, value in body.items()}
    return AriParams(values, _strings(variables))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


def _strings(variables: Any) -> dict[str, str]:
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise Refusal(400, "Each value in 'variables' must be a string")
    return variables


def _body(operation: Callable[[web.Request], Json | list[Json]]) -> Handler:
    """A handler answering 200 with the operation's JSON."""

    async def handle(request: web.Request) -> web.StreamResponse:
        return _json(operation(request))

    return handle


def _id(request: web.Request) -> str:
    """The channel or bridge the path names."""
    return request.match_info.get("channelId") or request.match_info["bridgeId"]


def _moh(request: web.Request) -> str:
    return request[PARAMS].values.get("mohClass") or "default"


def _channels(request: web.Request) -> str:
    return request[PARAMS].values.get("channel", "")


def _json(body: Json | list[Json], status: int = 200) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(body), status=status, content_type="application/json"
    )
