"""Twilio (and SignalWire) voice webhooks: every request's X-Twilio-Signature checked,
status callbacks and <Gather> actions applied as canonical events, and the TwiML answered:
stream the call's audio to us (the stream bound to the call, see
gateways.twilio.stream_binding) and hold the caller."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from callcenter.errors import Forbidden, InvalidInput
from callcenter.gateways.twilio import twiml
from callcenter.gateways.twilio.events import gather_event, status_event
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

TWILIO_DIALECT = "twilio"


@dataclass(frozen=True, slots=True)
class TwilioRequest:
    """A request as Twilio sent it: the URL it requested (the public one, as configured at
    Twilio, not as seen behind a proxy), its headers and its raw body."""

    url: str
    headers: Mapping[str, str]
    body: bytes = b""


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
    """The voice, status, hold and gather webhooks. Each takes the request and the public
    URLs the TwiML points at (the hold <Redirect>; the media stream, ws:// or wss://), and
    raises Forbidden for a bad signature, InvalidInput for a bad form, and whatever applying
    the event raises (Conflict, NotFound, StorageUnavailable)."""

    def __init__(
        self,
        events: CallEventService,
        signatures: TwilioSignatures,
        *,
        auth_token: str,
        hold_music_url: str | None,
        clock: Clock,
    ) -> None:
        self._events = events
        self._signatures = signatures
        self._token = auth_token
        self._hold_music = hold_music_url
        self._clock = clock

    async def voice(self, request: TwilioRequest, *, redirect_url: str, stream_url: str) -> str:
        """The call's first request: record it, stream its audio to us, hold the caller.
        Returns TwiML."""
        form = self._signatures.signed_form(request)
        event = status_event(form)
        if event is not None:
            await self._events.apply(event, dialect=TWILIO_DIALECT)
        call_id = event.call_id if event is not None else form.get("CallSid", "")
        # only signed requests get here, so the auth token is configured
        binding = stream_binding(self._token, call_id, now=self._clock.now().timestamp())
        return twiml.stream_and_hold(
            stream_url,
            call_id,
            self._hold_music,
            redirect_url=redirect_url,
            parameters=binding,
            insecure_ok=urlsplit(stream_url).scheme == "ws",
        )

    async def status(self, request: TwilioRequest) -> None:
        """A status callback, applied as a canonical event."""
        form = self._signatures.signed_form(request)
        event = status_event(form)
        if event is not None:
            await self._events.apply(event, dialect=TWILIO_DIALECT)

    def hold(self, request: TwilioRequest, *, redirect_url: str) -> str:
        """The <Redirect> that keeps a long hold going. Returns TwiML."""
        self._signatures.signed_form(request)
        return twiml.hold_loop(self._hold_music, redirect_url)

    async def gather(self, request: TwilioRequest, step: str, *, redirect_url: str) -> str:
        """A <Gather> action: the digits become `call.dtmf`; the caller keeps holding.
        Returns TwiML."""
        form = self._signatures.signed_form(request)
        event = gather_event(form, step=step)
        if event is not None:
            await self._events.apply(event, dialect=TWILIO_DIALECT)
        return twiml.hold_loop(self._hold_music, redirect_url)
