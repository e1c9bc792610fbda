"""Twilio Messaging webhooks: the incoming-message webhook as the SMS channel's
InboundMessage, and the status callback of a message we sent as a MessageStatusReport.

Both are form posts to be checked with gateways.twilio.signature first. Twilio adds
parameters without notice, so parameters not read here are ignored. The media URLs of an
MMS open the file to whoever holds them (unless the account asks for HTTP auth on media):
they never go into a message body, and a MediaAttachment's repr leaves them out."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from callcenter.domain.events import E164
from callcenter.domain.messages import MAX_BODY_CHARS, Channel, InboundMessage
from callcenter.errors import InvalidInput
from callcenter.gateways.twilio.events import party

Form = Mapping[str, str]

_MESSAGE_SID = re.compile(r"(?:SM|MM)[0-9a-fA-F]{32}")
_E164 = re.compile(E164)
_SHORT_CODE = re.compile(r"[0-9]{3,8}")
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+-]{1,64}/[A-Za-z0-9!#$&^_.+-]{1,64}")
_ERROR_CODE = re.compile(r"[0-9]{1,9}")
_MAX_MEDIA = 10  # Twilio's documented limit of media files on one message
# What the agent sees for a message with neither text nor media (the domain refuses a
# blank body, and the customer did write something).
EMPTY_BODY = "[empty message]"


class MessageStatus(StrEnum):
    """A Message resource's `status` / a status callback's `MessageStatus`, as documented."""

    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    RECEIVING = "receiving"
    RECEIVED = "received"
    READ = "read"
    PARTIALLY_DELIVERED = "partially_delivered"
    CANCELED = "canceled"


# Statuses that say the customer did not get the message (ErrorCode tells why).
NOT_DELIVERED = frozenset({MessageStatus.UNDELIVERED, MessageStatus.FAILED, MessageStatus.CANCELED})


@dataclass(frozen=True, slots=True)
class MessageStatusReport:
    """One status callback of a message we sent: which message (`message_sid`, the
    external id its send returned), where it got to, and Twilio's error code when it did
    not get through (e.g. 30003, unreachable handset)."""

    message_sid: str
    status: MessageStatus
    error_code: int | None = None
    to: str | None = None
    from_: str | None = None

    @property
    def event_id(self) -> str:
        """The same for a callback Twilio repeats, so a dedupe window drops the repeat."""
        return f"twilio:{self.message_sid}:{self.status}"

    @property
    def not_delivered(self) -> bool:
        return self.status in NOT_DELIVERED


@dataclass(frozen=True, slots=True)
class MediaAttachment:
    """One media file of an MMS; `url` is a capability, kept out of reprs and logs."""

    content_type: str
    url: str = field(repr=False)


def inbound_message(form: Form) -> InboundMessage:
    """The customer's message in Twilio's incoming-message webhook: `sender` is From (an
    E.164 number), `recipient` To (our number or short code), `external_id` MessageSid.

    An MMS gets a note of its attachments after the text ("[2 attachments: image/jpeg,
    image/png]"), or as the whole body when there is no text; a message with neither is
    EMPTY_BODY. Raises InvalidInput pointing at the first missing or bad field."""
    message_sid = _message_sid(form)
    sender = _required(form, "From")
    if not _E164.fullmatch(sender):
        raise InvalidInput("From must be an E.164 number (+ and 7 to 15 digits)", "/From")
    recipient = _required(form, "To")
    if not (_E164.fullmatch(recipient) or _SHORT_CODE.fullmatch(recipient)):
        raise InvalidInput("To must be an E.164 number or a short code", "/To")
    return InboundMessage(
        channel=Channel.SMS,
        sender=sender,
        recipient=recipient,
        body=_body(form),
        external_id=message_sid,
    )


def media_attachments(form: Form) -> tuple[MediaAttachment, ...]:
    """The media files of an incoming MMS (NumMedia of them, MediaUrl0.. with
    MediaContentType0..). Raises InvalidInput for a bad NumMedia or a missing or
    non-https MediaUrlN."""
    attachments = []
    for index, content_type in enumerate(_media_types(form)):
        name = f"MediaUrl{index}"
        url = _required(form, name)
        if not url.startswith("https://") or len(url) > 2048:
            raise InvalidInput(f"{name} must be an https URL", f"/{name}")
        attachments.append(MediaAttachment(content_type, url))
    return tuple(attachments)


def status_report(form: Form) -> MessageStatusReport:
    """The status callback of a message we sent (MessageSid, MessageStatus, ErrorCode when
    it failed). Raises InvalidInput pointing at the first missing or bad field."""
    message_sid = _message_sid(form)
    value = _required(form, "MessageStatus")
    try:
        status = MessageStatus(value)
    except ValueError:
        raise InvalidInput(f"unknown MessageStatus {value[:32]!r}", "/MessageStatus") from None
    code = form.get("ErrorCode", "")
    if code and not _ERROR_CODE.fullmatch(code):
        raise InvalidInput("ErrorCode must be a number", "/ErrorCode")
    return MessageStatusReport(
        message_sid=message_sid,
        status=status,
        error_code=int(code) if code else None,
        to=party(form, "To"),
        from_=party(form, "From"),
    )


def _body(form: Form) -> str:
    text = form.get("Body", "")
    note = _attachments_note(_media_types(form))
    if not text.strip():
        return note or EMPTY_BODY
    body = f"{text}\n{note}" if note else text
    if len(body) > MAX_BODY_CHARS:
        raise InvalidInput(f"Body is longer than {MAX_BODY_CHARS} characters", "/Body")
    return body


def _attachments_note(content_types: list[str]) -> str:
    if not content_types:
        return ""
    count = len(content_types)
    noun = "attachment" if count == 1 else "attachments"
    return f"[{count} {noun}: {', '.join(content_types)}]"


def _media_types(form: Form) -> list[str]:
    """The content type of each of NumMedia media files; "unknown type" where Twilio
    gave none we can show."""
    value = form.get("NumMedia", "") or "0"
    if not (value.isascii() and value.isdigit()) or int(value) > _MAX_MEDIA:
        raise InvalidInput(f"NumMedia must be a number from 0 to {_MAX_MEDIA}", "/NumMedia")
    types = [form.get(f"MediaContentType{index}", "") for index in range(int(value))]
    return [kind if _CONTENT_TYPE.fullmatch(kind) else "unknown type" for kind in types]


def _message_sid(form: Form) -> str:
    value = _required(form, "MessageSid")
    if not _MESSAGE_SID.fullmatch(value):
        raise InvalidInput("MessageSid must be SM or MM followed by 32 hex digits", "/MessageSid")
    return value


def _required(form: Form, name: str) -> str:
    value = form.get(name)
    if not value:
        raise InvalidInput(f"{name} is required", f"/{name}")
    return value
