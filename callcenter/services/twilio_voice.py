"""Twilio (and SignalWire) voice webhooks: every request's X-Twilio-Signature checked,
status callbacks and <Gather> actions applied as canonical events, and the TwiML answered:
stream the call's audio to us (the stream bound to the call, see
gateways.twilio.stream_binding) and hold the caller. With `callbacks` (services.
twilio_callbacks) the hold announces the wait and offers a callback, the callback menu's
actions are answered, and the callback leg's status callbacks reach its attempt."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import msgspec

from callcenter.domain.callback_events import DIAL_ATTRIBUTE
from callcenter.domain.events import CallEvent
from callcenter.errors import Forbidden, InvalidInput
from callcenter.gateways.twilio import twiml
from callcenter.gateways.twilio.callback_dial import CALLBACK_PARAMETER, DIAL_PARAMETER
from callcenter.gateways.twilio.events import callback_leg_event, gather_event, status_event
from callcenter.gateways.twilio.signature import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    signature_algorithm,
    validate,
)
from callcenter.gateways.twilio.stream_binding import stream_binding
from callcenter.metrics import Metrics
from callcenter.services.call_events import CallEventService
from callcenter.services.clock import Clock
from callcenter.services.twilio_callbacks import (
    ANNOUNCED_PARAMETER,
    NUMBER_PARAMETER,
    MenuUrls,
    TwilioCallbacks,
)

TWILIO_DIALECT = "twilio"
_QUERY_VALUE_MAX = 128


@dataclass(frozen=True, slots=True)
class TwilioRequest:
    """A request as Twilio sent it: the URL it requested (the public one, as configured at
    Twilio, not as seen behind a proxy), its headers and its raw body."""

    url: str
    headers: Mapping[str, str]
    body: bytes = b""

    def query(self, name: str) -> str | None:
        """A parameter of the URL's query (part of what Twilio signed). Raises
        InvalidInput for one longer than 128 characters."""
        for key, value in parse_qsl(urlsplit(self.url).query, keep_blank_values=True):
            if key == name:
                if len(value) > _QUERY_VALUE_MAX:
                    raise InvalidInput(f"longer than {_QUERY_VALUE_MAX} characters", f"/{name}")
                return value
        return None


class TwilioSignatures:
    """Checks X-Twilio-Signature with the account's auth token; counts every refusal."""

    def __init__(self, auth_token: str, *, metrics: Metrics) -> None:
        self._token = auth_token
        self._metrics = metrics

    def verify(
        self, url: str, params: Sequence[tuple[str, str]], headers: Mapping[str, str]
    ) -> None:
        """Raise Forbidden (and count it) unless the signature in `headers` is Twilio's for
        `params` posted to `url`."""
        algorithm = signature_algorithm(headers.get(SIGNATURE_SETTINGS_HEADER))
        signature = headers.get(SIGNATURE_HEADER)
        if self._token and validate(self._token, url, list(params), signature, algorithm=algorithm):
            return
        reason = "not_configured" if not self._token else "bad_signature"
        self._metrics.auth_failures_total.labels("twilio_" + reason).inc()
        raise Forbidden(
            "Twilio webhooks need CALLCENTER_TWILIO_AUTH_TOKEN"
            if not self._token
            else f"{SIGNATURE_HEADER} does not match this request"
        )

    def signed_form(self, request: TwilioRequest) -> dict[str, str]:
        """The form Twilio posted, once its signature checks out. Raises InvalidInput for a
        body that is not UTF-8, Forbidden for a bad signature."""
        try:
            pairs = parse_qsl(
                request.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False
            )
        except UnicodeDecodeError:
            raise InvalidInput("form body is not UTF-8") from None
        self.verify(request.url, pairs, request.headers)
        return dict(pairs)


class TwilioVoice:
    """The voice, status, hold, gather and callback-menu webhooks. Each takes the request
    and the public URLs the TwiML points at (the hold <Redirect>; the media stream, ws://
    or wss://; the menu's actions), and raises Forbidden for a bad signature, InvalidInput
    for a bad form, and whatever applying the event raises (Conflict, NotFound,
    StorageUnavailable)."""

    def __init__(
        self,
        events: CallEventService,
        signatures: TwilioSignatures,
        *,
        auth_token: str,
        hold_music_url: str | None,
        clock: Clock,
        callbacks: TwilioCallbacks | None = None,
    ) -> None:
        """Without `callbacks` the hold is a plain loop and the menu's actions hold on."""
        self._events = events
        self._signatures = signatures
        self._token = auth_token
        self._hold_music = hold_music_url
        self._clock = clock
        self._callbacks = callbacks

    @property
    def offers_callbacks(self) -> bool:
        return self._callbacks is not None

    async def voice(self, request: TwilioRequest, *, urls: MenuUrls, stream_url: str) -> str:
        """The call's first request: record it, stream its audio to us, hold the caller.
        Returns TwiML."""
        form = self._signatures.signed_form(request)
        event = status_event(form)
        if event is not None:
            await self._events.apply(event, dialect=TWILIO_DIALECT)
        call_id = event.call_id if event is not None else form.get("CallSid", "")
        # only signed requests get here, so the auth token is configured
        binding = stream_binding(self._token, call_id, now=self._clock.now().timestamp())
        turn = None
        if self._callbacks is not None:
            turn = await self._callbacks.hold_turn(call_id, urls, announced_at=None)
        return twiml.stream_and_hold(
            stream_url,
            call_id,
            self._hold_music,
            redirect_url=urls.hold,
            parameters=binding,
            insecure_ok=urlsplit(stream_url).scheme == "ws",
            turn=turn,
        )

    async def status(self, request: TwilioRequest) -> None:
        """A status callback, applied as a canonical event; one whose URL names a
        callback (`?callback=<call id>&dial=<dial id>`) reports on that callback's leg."""
        form = self._signatures.signed_form(request)
        callback = request.query(CALLBACK_PARAMETER)
        event: CallEvent | None
        if callback:
            event = _leg_event(form, callback, request.query(DIAL_PARAMETER) or "")
        else:
            event = status_event(form)
        if event is not None:
            await self._events.apply(event, dialect=TWILIO_DIALECT)

    async def hold(self, request: TwilioRequest, *, urls: MenuUrls) -> str:
        """The <Redirect> that keeps a hold going: the next turn. Returns TwiML."""
        form = self._signatures.signed_form(request)
        if self._callbacks is None:
            return twiml.hold_loop(self._hold_music, urls.hold)
        announced = _announced_at(request)
        turn = await self._callbacks.hold_turn(
            form.get("CallSid", ""), urls, announced_at=announced
        )
        return twiml.hold_turn(self._hold_music, turn)

    async def gather(self, request: TwilioRequest, step: str, *, urls: MenuUrls) -> str:
        """A <Gather> action: the digits become `call.dtmf`; the caller keeps holding.
        Returns TwiML."""
        form = self._signatures.signed_form(request)
        event = gather_event(form, step=step)
        if event is not None:
            await self._events.apply(event, dialect=TWILIO_DIALECT)
        if self._callbacks is None:
            return twiml.hold_loop(self._hold_music, urls.hold)
        return twiml.redirect(urls.hold)

    async def callback_offer(self, request: TwilioRequest, *, urls: MenuUrls) -> str:
        """The hold's offer: 1 asks to confirm the number. Returns TwiML."""
        call_id, digits = self._menu_form(request)
        if self._callbacks is None:
            return twiml.redirect(urls.hold)
        return await self._callbacks.offer(call_id, digits, urls)

    async def callback_confirm(self, request: TwilioRequest, *, urls: MenuUrls) -> str:
        """The number's confirmation: 1 takes the callback, 2 keys another. Returns TwiML;
        raises InvalidInput when the URL carries no number."""
        call_id, digits = self._menu_form(request)
        number = request.query(NUMBER_PARAMETER)
        if number is None:
            raise InvalidInput("the confirmation names no number", f"/{NUMBER_PARAMETER}")
        if self._callbacks is None:
            return twiml.redirect(urls.hold)
        return await self._callbacks.confirm(call_id, digits, number, urls)

    async def callback_number(self, request: TwilioRequest, *, urls: MenuUrls) -> str:
        """A number keyed in: said back to confirm. Returns TwiML."""
        call_id, digits = self._menu_form(request)
        if self._callbacks is None:
            return twiml.redirect(urls.hold)
        return await self._callbacks.keyed(call_id, digits, urls)

    def _menu_form(self, request: TwilioRequest) -> tuple[str, str]:
        form = self._signatures.signed_form(request)
        call_id = form.get("CallSid", "")
        if not call_id:
            raise InvalidInput("CallSid is required", "/CallSid")
        return call_id, form.get("Digits", "")


def _announced_at(request: TwilioRequest) -> int | None:
    value = request.query(ANNOUNCED_PARAMETER)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 12:
        raise InvalidInput("must be unix seconds", f"/{ANNOUNCED_PARAMETER}")
    return int(value)


def _leg_event(form: Mapping[str, str], call_id: str, dial_id: str) -> CallEvent:
    """A status callback of a callback's leg, naming its attempt: the call decides whether
    that attempt is still on (domain.callback_events)."""
    leg = callback_leg_event(form, call_id)
    return msgspec.structs.replace(leg, attributes={**leg.attributes, DIAL_ATTRIBUTE: dial_id})
