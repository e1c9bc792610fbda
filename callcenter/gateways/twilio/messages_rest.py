"""Twilio's REST Messages resource: an agent's SMS reply goes out as a Message create.

`POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json` through a TwilioRestClient
(its session, credentials and retry rules), with To, From (or MessagingServiceSid when one
is configured: Twilio then picks the sender from the service's pool), Body and, when set,
StatusCallback. As for a call create, only what Twilio certainly did not act on is
retried: 429 (after its Retry-After) and a connection that never opened. A 5xx, a timeout
or a dropped connection may have sent the SMS, and a second create would text the
customer twice, so those are raised at once.

A body over 1600 characters is refused before anything is sent: Twilio would answer 21617,
and splitting a reply is not this adapter's call. Twilio counts a character outside the
Basic Multilingual Plane (most emoji) as two, so the length here is in UTF-16 code units."""

from __future__ import annotations

import logging
import re

import msgspec

from callcenter.domain.messages import Channel, OutboundMessage
from callcenter.errors import InvalidInput, ReplyNotSent
from callcenter.gateways.twilio.rest import TwilioApiError, TwilioRestClient

logger = logging.getLogger(__name__)

MAX_SMS_BODY_CHARS = 1600
_MESSAGING_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")
_MESSAGE_SID = re.compile(r"(?:SM|MM)[0-9a-fA-F]{32}")


class TwilioMessage(msgspec.Struct, frozen=True, kw_only=True):
    """The fields of Twilio's Message resource read here (the rest are ignored)."""

    sid: str
    status: str | None = None


def sms_length(body: str) -> int:
    """The length of `body` as Twilio counts it against its 1600 limit: UTF-16 code units."""
    return len(body.encode("utf-16-le", errors="surrogatepass")) // 2


class TwilioMessagesClient:
    def __init__(
        self,
        rest: TwilioRestClient,
        *,
        messaging_service_sid: str | None = None,
        status_callback: str | None = None,
    ) -> None:
        """`messaging_service_sid` sends through that Messaging Service instead of from
        the message's own number; `status_callback` is where Twilio posts the message's
        status changes. Raises ValueError for a service SID that is not MG + 32 hex."""
        if messaging_service_sid and not _MESSAGING_SERVICE_SID.fullmatch(messaging_service_sid):
            raise ValueError("a Twilio Messaging Service SID is MG followed by 32 hex digits")
        self._rest = rest
        self._messaging_service_sid = messaging_service_sid or None
        self._status_callback = status_callback or None

    async def create_message(self, message: OutboundMessage) -> str:
        """Send the SMS `message` (to the customer's number, from ours) and return the new
        message's SID (SM + 32 hex).

        Raises ValueError for a message of another channel; InvalidInput (at /body) for a
        body Twilio would refuse as too long, before any request; TwilioApiError with a
        4xx status when Twilio refused (e.g. 21211, an invalid To) or stayed busy (429),
        and otherwise when it is not known whether the SMS went out."""
        if message.channel is not Channel.SMS:
            raise ValueError(f"not an SMS: a {message.channel} message")
        length = sms_length(message.body)
        if length > MAX_SMS_BODY_CHARS:
            reason = f"an SMS is at most {MAX_SMS_BODY_CHARS} characters (this one is {length})"
            raise InvalidInput(reason, "/body")
        form = [("To", message.to)]
        if self._messaging_service_sid is not None:
            form.append(("MessagingServiceSid", self._messaging_service_sid))
        else:
            form.append(("From", message.from_))
        form.append(("Body", message.body))
        if self._status_callback is not None:
            form.append(("StatusCallback", self._status_callback))
        body = await self._rest.post_to_account(
            "Messages.json", form, "a message create", retry_server_errors=False
        )
        return _message_sid(body)


class TwilioSmsSender:
    """The SMS channel's reply sender (services.task_writes.ReplySender): a Message
    create, whose failures are ReplyNotSent saying whether the SMS may have gone out."""

    def __init__(self, client: TwilioMessagesClient) -> None:
        self._client = client

    async def send(self, message: OutboundMessage) -> str:
        """Send; return Twilio's MessageSid. Raises InvalidInput for a body too long for
        an SMS, ReplyNotSent when Twilio refused it or did not confirm it."""
        try:
            return await self._client.create_message(message)
        except TwilioApiError as error:
            logger.warning(
                "SMS reply not sent: Twilio error %s (HTTP %s)", error.code, error.status
            )
            raise ReplyNotSent(str(Channel.SMS), _reason(error)) from error


def _reason(error: TwilioApiError) -> str:
    if error.status is not None and 400 <= error.status < 500:
        return f"Twilio refused it: {error.message}"
    # a 5xx, a timeout or a dropped connection: Twilio may have sent it all the same
    return f"Twilio did not confirm it, so it may have been sent: {error.message}"


def _message_sid(body: bytes) -> str:
    try:
        created = msgspec.json.decode(body, type=TwilioMessage)
    except msgspec.DecodeError as error:
        raise TwilioApiError(201, None, f"unreadable message resource: {error}") from error
    if not _MESSAGE_SID.fullmatch(created.sid):
        raise TwilioApiError(201, None, f"unexpected message SID {created.sid[:40]!r}")
    return created.sid
