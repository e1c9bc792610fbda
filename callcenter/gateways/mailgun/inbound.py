"""An email as Mailgun's route `forward()` posts it, decoded into an InboundMessage, and the
signature Mailgun puts on every webhook: hex HMAC-SHA256(signing key, timestamp + token).

We take Mailgun rather than SendGrid Inbound Parse because Mailgun signs each post, so a
forged email can be refused. Fields (Mailgun's documentation, "Routes", "Receiving"):
`from` (with a display name: the customer), `sender` (the envelope's), `recipient`,
`subject`, `body-plain`, `stripped-text` (the reply without the quoted history: preferred),
`Message-Id`, `In-Reply-To`, `References` (each MIME header is posted as its own field, and
all of them in order as `message-headers`, a JSON list of [name, value] pairs: the
threading headers are read from their own fields in any case, else from that list), and
`timestamp`, `token`, `signature`. Message-IDs are kept with their angle brackets
(`<id@host>`), as they appear in headers."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from email.utils import parseaddr

import msgspec

from callcenter.domain.messages import MAX_BODY_CHARS, MAX_SUBJECT_CHARS, Channel, InboundMessage
from callcenter.errors import InvalidInput, Unauthorized
from callcenter.gateways.signing import timestamp_in_window

_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,250}>")
MAX_REFERENCES = 20
_THREADING = ("Message-Id", "In-Reply-To", "References")


def check_signature(
    signing_key: str, form: Mapping[str, str], *, now: float, tolerance_seconds: int
) -> str:
    """Verify the post's `timestamp`, `token` and `signature`; return the token (a post is
    taken once per token). Raises Unauthorized with the reason."""
    timestamp, token, signature = (form.get(k, "") for k in ("timestamp", "token", "signature"))
    if not signing_key:
        raise Unauthorized("Mailgun webhooks need CALLCENTER_MAILGUN_SIGNING_KEY")
    if not (timestamp and token and signature):
        raise Unauthorized("missing timestamp, token or signature")
    timestamp_in_window(timestamp, now=now, tolerance_seconds=tolerance_seconds, name="timestamp")
    expected = hmac.new(
        signing_key.encode(), (timestamp + token).encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, signature.strip().lower()):
        raise Unauthorized("the Mailgun signature does not match this post")
    return token


def inbound_email(form: Mapping[str, str]) -> InboundMessage:
    """The email in a Mailgun route post. Raises InvalidInput naming the field."""
    name, address = parseaddr(form.get("from", ""))
    threading = _threading_headers(form)
    message_id = _message_id(threading["Message-Id"], "Message-Id")
    if message_id is None:
        raise InvalidInput("Message-Id is required", "/Message-Id")
    references = tuple(_MESSAGE_ID.findall(threading["References"]))[-MAX_REFERENCES:]
    return InboundMessage(
        channel=Channel.EMAIL,
        sender=_customer(address, form.get("sender", "")),
        recipient=_address(parseaddr(form.get("recipient", ""))[1], "recipient"),
        body=_body(form),
        external_id=message_id,
        sender_name=name.strip() or None,
        subject=_subject(form),
        in_reply_to=_message_id(threading["In-Reply-To"], "In-Reply-To"),
        references=tuple(reversed(references)),  # newest first: the likeliest thread
    )


def _threading_headers(form: Mapping[str, str]) -> dict[str, str]:
    """Message-Id, In-Reply-To and References ("" when absent): their own fields, whatever
    the case of the name, else the first of that name in `message-headers`."""
    wanted = {name.lower(): name for name in _THREADING}
    found = {wanted[k.lower()]: v for k, v in form.items() if k.lower() in wanted and v.strip()}
    if len(found) < len(_THREADING):
        for name, value in _message_headers(form):
            if name.lower() in wanted:
                found.setdefault(wanted[name.lower()], value)
    return {name: found.get(name, "") for name in _THREADING}


def _message_headers(form: Mapping[str, str]) -> list[tuple[str, str]]:
    text = form.get("message-headers", "")
    if not text.strip():
        return []
    try:
        return msgspec.json.decode(text, type=list[tuple[str, str]])
    except msgspec.MsgspecError:
        reason = "message-headers must be a JSON list of [name, value] pairs"
        raise InvalidInput(reason, "/message-headers") from None


def _customer(from_address: str, envelope_sender: str) -> str:
    """The customer's address: the From header's (the person who wrote), else the envelope
    sender (MAIL FROM, where a mailing list or a forwarder puts its own bounce address, so
    it would split one customer's conversation into several)."""
    for text in (from_address, envelope_sender):
        address = text.strip().lower()
        if _ADDRESS.fullmatch(address):
            return address
    raise InvalidInput("from must be an email address (and sender is none either)", "/from")


def _address(text: str, field: str) -> str:
    address = text.strip().lower()
    if not _ADDRESS.fullmatch(address):
        raise InvalidInput(f"{field} must be an email address", f"/{field}")
    return address


def _subject(form: Mapping[str, str]) -> str | None:
    """The subject on one line: a line break left from header folding would make the
    "Re:" header of our reply impossible to write."""
    subject = " ".join(form.get("subject", "").split()) or None
    if subject is not None and len(subject) > MAX_SUBJECT_CHARS:
        raise InvalidInput(f"subject is longer than {MAX_SUBJECT_CHARS} characters", "/subject")
    return subject


def _body(form: Mapping[str, str]) -> str:
    """The reply without the quoted history when Mailgun found it, else the whole text."""
    field = "stripped-text" if form.get("stripped-text", "").strip() else "body-plain"
    body = form.get(field, "").strip()
    if len(body) > MAX_BODY_CHARS:
        raise InvalidInput(f"the text is longer than {MAX_BODY_CHARS} characters", f"/{field}")
    return body or "[an email without text]"


def _message_id(text: str, field: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    found = _MESSAGE_ID.search(text if "<" in text else f"<{text}>")
    if found is None:
        raise InvalidInput(f"{field} is not a Message-ID", f"/{field}")
    return found.group(0)
