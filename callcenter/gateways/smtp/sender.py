"""Agents' email replies through an SMTP relay: a text/plain UTF-8 message with its own
Message-ID, In-Reply-To and References (RFC 5322 §3.6.4) so the customer's mail client
threads it, and "Re: " once. smtplib runs off the event loop; a relay that cannot be
reached or answers 4xx is tried again (the one retry policy), a 5xx is final."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from callcenter.backoff import Backoff
from callcenter.domain.messages import Channel, OutboundMessage
from callcenter.errors import ReplyNotSent

ATTEMPTS = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpRelay:
    host: str
    port: int = 587
    starttls: bool = True
    username: str = ""
    password: str = ""
    from_address: str = ""  # else the address the customer wrote to
    timeout_seconds: float = 10.0


def reply_subject(subject: str | None) -> str:
    text = (subject or "").strip()
    return text if text.lower().startswith("re:") else f"Re: {text}".rstrip()


def email_of(message: OutboundMessage, relay: SmtpRelay) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = relay.from_address or message.from_
    mail["To"] = message.to
    mail["Subject"] = reply_subject(message.subject)
    mail["Date"] = formatdate(localtime=False)
    domain = (relay.from_address or message.from_).rpartition("@")[2] or "localhost"
    mail["Message-ID"] = message.message_id or make_msgid(domain=domain)
    if message.in_reply_to:
        mail["In-Reply-To"] = message.in_reply_to
    if message.references:
        mail["References"] = " ".join(message.references)
    mail.set_content(message.body, charset="utf-8")
    return mail


class SmtpSender:
    """The email channel's reply sender (services.task_writes.ReplySender)."""

    def __init__(self, relay: SmtpRelay, *, backoff: Backoff | None = None) -> None:
        self._relay = relay
        self._backoff = backoff or Backoff(0.5, 5.0)

    async def send(self, message: OutboundMessage) -> str:
        """Send; return the Message-ID. Raises ReplyNotSent naming the relay's answer."""
        if message.channel is not Channel.EMAIL:
            raise ValueError(f"not an email: a {message.channel} message")
        mail = email_of(message, self._relay)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                await asyncio.to_thread(self._deliver, mail)
                return str(mail["Message-ID"])
            except smtplib.SMTPResponseException as error:
                final = error.smtp_code >= 500 or attempt == ATTEMPTS
                reason = f"the relay answered {error.smtp_code} {_text(error.smtp_error)}"
                if final:
                    raise ReplyNotSent(str(Channel.EMAIL), reason) from error
            except (OSError, smtplib.SMTPException) as error:
                if attempt == ATTEMPTS:
                    reason = f"the relay could not be reached: {error}"
                    raise ReplyNotSent(str(Channel.EMAIL), reason) from error
            await asyncio.sleep(self._backoff.delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def _deliver(self, mail: EmailMessage) -> None:
        relay = self._relay
        with smtplib.SMTP(relay.host, relay.port, timeout=relay.timeout_seconds) as smtp:
            if relay.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if relay.username:
                smtp.login(relay.username, relay.password)
            smtp.send_message(mail)


def _text(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
