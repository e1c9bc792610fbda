"""The simulator as Twilio: signed voice and status webhooks to the server, Media Streams
of the callers' voices, and Twilio's REST call-update endpoint on 127.0.0.1 (the server's
CALLCENTER_TWILIO_API_URL points here), where a <Dial> tells us which agent answered; its
call-create endpoint places callbacks, answered as the customer (simulate.twilio_callbacks).

aiohttp serves that one endpoint: the simulator stands in for Twilio's API, as the
integration tests' fake does; the STYLE rule that only web/ serves HTTP is about the
contact-center server."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from aiohttp import web

from callcenter.backoff import Backoff
from callcenter.simulate.api import ServerRefused
from callcenter.simulate.clips import Clip
from callcenter.simulate.ledger import CallRecord, Ledger
from callcenter.simulate.media_stream import stream_twilio
from callcenter.simulate.twilio_callbacks import (
    ANSWERED,
    CallbackCustomers,
    CallbackHook,
    CallbackTalk,
    talk_for_handle_time,
)

logger = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
ATTEMPTS = 5


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """X-Twilio-Signature: base64(HMAC-SHA1(token, url + each name and value, by name))."""
    signed = url + "".join(name + params[name] for name in sorted(params))
    mac = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


@dataclass(frozen=True, slots=True)
class StreamTarget:
    url: str  # ws(s):// as the TwiML gave it
    parameters: dict[str, str]


def stream_target(twiml: str) -> StreamTarget | None:
    """The <Start><Stream> of a TwiML answer, if it has one; raises ValueError for
    something that is not XML."""
    try:
        root = ET.fromstring(twiml)
    except ET.ParseError as error:
        raise ValueError(f"not TwiML: {error}") from None
    stream = root.find("./Start/Stream")
    if stream is None or not stream.get("url"):
        return None
    parameters = {
        p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter") if p.get("name")
    }
    return StreamTarget(stream.get("url", ""), parameters)


def dialed_agent(twiml: str) -> str | None:
    """The agent a <Dial> connects to: a <Client> identity or the user of a SIP URI."""
    try:
        root = ET.fromstring(twiml)
    except ET.ParseError:
        return None
    client = root.find("./Dial/Client")
    if client is not None:
        identity = client.find("Identity")
        text = identity.text if identity is not None else client.text
        return (text or "").strip() or None
    sip = root.find("./Dial/Sip")
    if sip is not None and sip.text:
        user = sip.text.strip().split(":", 1)[-1].split("@", 1)[0]
        return user or None
    return None


def http_url(ws_url: str) -> str:
    """The URL a websocket handshake is signed for: ws → http, wss → https."""
    parts = urlsplit(ws_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit(parts._replace(scheme=scheme))


class TwilioGateway:
    dialect = "twilio"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        ledger: Ledger,
        *,
        server_url: str,
        public_url: str,
        account_sid: str,
        auth_token: str,
        api_host: str,
        api_port: int,
        clock: Callable[[], float],
        on_connect: Callable[[str, str], None],
        on_callback: CallbackHook = lambda call_id, agent_id, what: None,
        callback_answers: Callable[[str], str] = lambda call_id: ANSWERED,
        callback_talk: CallbackTalk = talk_for_handle_time,
    ) -> None:
        """`on_callback(call_id, agent_id, what)` hears of each callback leg: "dialled",
        then "answered" and "completed", or how the customer did not answer;
        `callback_answers(call_id)` decides that: "in-progress" (answers), "busy" or
        "no-answer"; `callback_talk(record, agent_id)` returns when the customer called
        back hangs up (by default after the call's handle time)."""
        self._session = session
        self._ledger = ledger
        self._server = server_url.rstrip("/")
        self._public = public_url.rstrip("/")
        self._account = account_sid
        self._token = auth_token
        self._api_host = api_host
        self._api_port = api_port
        self._clock = clock
        self._on_connect = on_connect
        self._streams: dict[str, StreamTarget] = {}
        self._holds: dict[str, str] = {}  # call sid -> the hold TwiML the caller hears
        self._runner: web.AppRunner | None = None
        self._delay = Backoff(0.25, 8.0).ceiling
        self.callbacks = CallbackCustomers(
            self._post,
            ledger,
            account_sid=account_sid,
            public_url=self._public,
            on_callback=on_callback,
            answers=callback_answers,
            talk=callback_talk,
            clock=clock,
        )

    @property
    def api_url(self) -> str:
        """What the server's CALLCENTER_TWILIO_API_URL must be."""
        return f"http://{self._api_host}:{self._api_port}"

    @property
    def missing_connect(self) -> str:
        """What it means when an accepted caller is not connected to the agent."""
        return (
            f"the server sent no <Dial> to {self.api_url}: start the server with "
            f"CALLCENTER_TWILIO_API_URL={self.api_url}"
        )

    async def start(self) -> None:
        """Serve the REST call-update and call-create endpoints. Raises OSError if the
        port is taken."""
        app = web.Application()
        calls = f"/{API_VERSION}/Accounts/{{account}}/Calls"
        app.router.add_post(calls + ".json", self._create_call)
        app.router.add_post(calls + "/{sid}.json", self._update_call)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._api_host, self._api_port)
        await site.start()

    async def stop(self) -> None:
        await self.callbacks.stop()
        if self._runner is not None:
            await self._runner.cleanup()

    def _form(self, record: CallRecord, status: str) -> dict[str, str]:
        plan = record.plan
        return {
            "AccountSid": self._account,
            "ApiVersion": API_VERSION,
            "CallSid": plan.call_sid,
            "CallStatus": status,
            "Direction": "inbound",
            "From": plan.caller,
            "Caller": plan.caller,
            "To": plan.dialed,
            "Called": plan.dialed,
        }

    async def _post(self, path: str, form: dict[str, str], what: str) -> str:
        signature = twilio_signature(self._token, self._public + path, form)
        headers = {"X-Twilio-Signature": signature}
        reason = ""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self._session.post(
                    self._server + path, data=form, headers=headers
                ) as answer:
                    text = await answer.text()
                    if answer.status < 300:
                        return text
                    if answer.status == 403:
                        raise ServerRefused(
                            f"{what}: the server refused the Twilio signature (start it with "
                            "CALLCENTER_TWILIO_ACCOUNT_SID and CALLCENTER_TWILIO_AUTH_TOKEN "
                            "equal to the simulator's, and CALLCENTER_PUBLIC_URL, if set, "
                            "equal to --public-url)",
                            403,
                            text,
                        )
                    if answer.status < 500:
                        raise ServerRefused(what, answer.status, text)
                    reason = f"HTTP {answer.status}"
            except (aiohttp.ClientConnectionError, TimeoutError) as error:
                reason = str(error) or type(error).__name__
            if attempt < ATTEMPTS:
                await asyncio.sleep(self._delay(attempt))
        raise ServerRefused(what, 0, f"gave up after {ATTEMPTS} attempts: {reason}")

    async def place(self, record: CallRecord) -> None:
        """The voice webhook of a new inbound call; keeps the stream the TwiML starts."""
        twiml = await self._post(
            "/gateways/twilio/voice", self._form(record, "ringing"), "voice webhook"
        )
        self._ledger.events["call.created", "sent"] += 1
        try:
            target = stream_target(twiml)
        except ValueError as error:
            raise ServerRefused("voice webhook", 200, str(error)) from None
        if target is not None:
            self._streams[record.plan.call_sid] = target
        self._holds[record.plan.call_sid] = twiml

    async def take_callback(self, record: CallRecord) -> bool:
        """The caller on hold takes the callback if it is offered (pressing 1, then 1 to
        confirm the number): True when taken, and Twilio has hung up and said so (do not
        call `hang_up`); False when not offered (the caller holds on)."""
        sid = record.plan.call_sid
        hold = self._holds.get(sid)
        if hold is None:
            return False
        try:
            taken = await self.callbacks.take_offer(record, hold)
        except ValueError as error:
            raise ServerRefused("callback menu", 200, str(error)) from None
        if taken:
            self._streams.pop(sid, None)
            self._holds.pop(sid, None)
        return taken

    async def answered(self, record: CallRecord, agent_id: str) -> None:
        """Nothing to say: the server learnt of the answer first (its <Dial> told us)."""

    async def hang_up(self, record: CallRecord) -> None:
        """The caller hangs up: the status callback `completed`."""
        form = self._form(record, "completed")
        talk = record.talk_seconds
        form.update(
            CallbackSource="call-progress-events",
            SequenceNumber="1",
            CallDuration=str(round((talk or 0.0) + (record.wait_seconds or 0.0))),
            Timestamp=format_datetime(datetime.now(UTC)),
        )
        self._streams.pop(record.plan.call_sid, None)
        self._holds.pop(record.plan.call_sid, None)
        await self._post("/gateways/twilio/status", form, "status callback")
        self._ledger.events["call.ended", "sent"] += 1

    async def speak(self, record: CallRecord, clip: Clip, stop: asyncio.Event) -> None:
        """Stream the caller's clip on the Media Stream the TwiML asked for.

        Raises ServerRefused when the call had no stream or the server refused it."""
        sid = record.plan.call_sid
        target = self._streams.get(sid)
        if target is None:
            raise ServerRefused("media stream", 0, "the voice webhook's TwiML started no stream")
        signature = twilio_signature(self._token, http_url(target.url), {})
        try:
            await stream_twilio(
                self._session,
                target.url,
                signature=signature,
                account_sid=self._account,
                call_sid=sid,
                stream_sid="MZ" + sid[2:],
                parameters=target.parameters,
                clip=clip,
                stop=stop,
            )
        except aiohttp.WSServerHandshakeError as error:
            raise ServerRefused("media stream", error.status, error.message) from None

    async def _create_call(self, request: web.Request) -> web.Response:
        """Twilio's call create: a callback to a customer, answered as the customer."""
        if request.match_info["account"] != self._account or not self._authorised(request):
            return _twilio_error(401, 20003, "Authenticate")
        twiml = (await request.post()).get("Twiml")
        agent = dialed_agent(twiml) if isinstance(twiml, str) else None
        return await self.callbacks.create_call(request, agent)

    async def _update_call(self, request: web.Request) -> web.Response:
        """Twilio's call update: a <Dial> to an agent means the caller is connected."""
        if request.match_info["account"] != self._account or not self._authorised(request):
            return _twilio_error(401, 20003, "Authenticate")
        sid = request.match_info["sid"]
        form = await request.post()
        twiml = form.get("Twiml")
        record = self._ledger.record(sid)
        if record is None:
            self._ledger.routing_error(f"{sid}: the server updated a call this run never placed")
            return _twilio_error(404, 20404, f"The requested resource {sid} was not found")
        agent = dialed_agent(twiml) if isinstance(twiml, str) else None
        if agent is None:
            self._ledger.notes["call updates without a <Dial>"] += 1
            return web.json_response(self._resource(sid, "in-progress"))
        self._on_connect(sid, agent)
        if (record.hung_up_at is not None or record.callback) and record.connected_at is None:
            # the caller hung up (while the agent was accepting, or to be called back):
            # Twilio refuses the update
            return _twilio_error(400, 21220, "Call is not in-progress. Cannot redirect.")
        return web.json_response(self._resource(sid, "in-progress"))

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(f"{user}:{password}", f"{self._account}:{self._token}")

    def _resource(self, sid: str, status: str) -> dict[str, str]:
        return {"sid": sid, "account_sid": self._account, "status": status}


def _twilio_error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {"code": code, "message": message, "status": status, "more_info": ""}, status=status
    )
