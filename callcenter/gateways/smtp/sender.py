"""Agents' email replies through an SMTP relay: a text/plain UTF-8 message with its own
Message-ID, In-Reply-To and References (RFC 5322 §3.6.4) so the customer's mail client
threads it, and "Re: " once. smtplib runs off the event loop; a relay that cannot be
reached or answers 4xx is tried again (the one retry policy), a 5xx is final."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import NoReturn

from callcenter.backoff import Backoff
from callcenter.domain.messages import Channel, OutboundMessage
from callcenter.errors import ReplyNotSent

ATTEMPTS = 3
# References keeps the thread's first message and the newest ones (RFC 5537 §3.4.4 trims
# the same way): a long conversation must not grow the header without end.
MAX_REFERENCES = 20
# Non-ASCII text goes out quoted-printable or base64: smtplib does not announce 8BITMIME
_SEVEN_BIT = policy.default.clone(cte_type="7bit")


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpRelay:
    """`implicit_tls` is TLS from the first byte (port 465); `starttls` upgrades a plain
    connection (port 587) and is moot with implicit TLS. The relay's certificate is checked
    against the system's CAs, or only against `ca_file` (PEM) when given."""

    host: str
    port: int = 587
    starttls: bool = True
    implicit_tls: bool = False
    username: str = ""
    password: str = ""
    ca_file: str = ""
    from_address: str = ""  # else the address the customer wrote to
    timeout_seconds: float = 10.0


class _Final(Exception):
    """A failure that trying again will not fix."""


def reply_subject(subject: str | None) -> str:
    text = " ".join((subject or "").split())
    return text if text.lower().startswith("re:") else f"Re: {text}".rstrip()


def references_for(thread: tuple[str, ...]) -> tuple[str, ...]:
    """`thread` (oldest first) as a References header holds it: the first and the newest."""
    if len(thread) <= MAX_REFERENCES:
        return thread
    return (thread[0], *thread[-(MAX_REFERENCES - 1) :])


def email_of(message: OutboundMessage, relay: SmtpRelay) -> EmailMessage:
    mail = EmailMessage(policy=_SEVEN_BIT)
    mail["From"] = relay.from_address or message.from_
    mail["To"] = message.to
    mail["Subject"] = reply_subject(message.subject)
    mail["Date"] = format_datetime(datetime.now(UTC))
    domain = (relay.from_address or message.from_).rpartition("@")[2] or "localhost"
    mail["Message-ID"] = message.message_id or make_msgid(domain=domain)
    if message.in_reply_to:
        mail["In-Reply-To"] = message.in_reply_to
    if message.references:
        mail["References"] = " ".join(references_for(message.references))
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
            except _Final as error:
                raise ReplyNotSent(str(Channel.EMAIL), str(error)) from error.__cause__
            except (OSError, smtplib.SMTPException) as error:
                if attempt == ATTEMPTS:
                    raise ReplyNotSent(str(Channel.EMAIL), _transient(error)) from error
            await asyncio.sleep(self._backoff.delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def _deliver(self, mail: EmailMessage) -> None:
        """One attempt (in a worker thread). Raises _Final for what a retry will not fix,
        else smtplib's or the socket's error."""
        try:
            with self._connect() as smtp:
                if self._relay.starttls and not self._relay.implicit_tls:
                    smtp.starttls(context=self._tls_context())
                if self._relay.username:
                    smtp.login(self._relay.username, self._relay.password)
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as error:
            code, text = next(iter(error.recipients.values()))
            _raise_answer(code, text, error)
        except smtplib.SMTPResponseException as error:
            _raise_answer(error.smtp_code, error.smtp_error, error)
        except smtplib.SMTPNotSupportedError as error:
            raise _Final(f"the relay does not offer what we need: {error}") from error
        except ssl.SSLCertVerificationError as error:  # other TLS failures may pass
            raise _Final(f"the relay's TLS certificate is not trusted: {error}") from error
        except UnicodeEncodeError as error:  # smtplib sends credentials as ASCII only
            raise _Final("the SMTP username and password must be ASCII") from error

    def _connect(self) -> smtplib.SMTP:
        relay = self._relay
        if relay.implicit_tls:
            context = self._tls_context()
            return smtplib.SMTP_SSL(
                relay.host, relay.port, timeout=relay.timeout_seconds, context=context
            )
        return smtplib.SMTP(relay.host, relay.port, timeout=relay.timeout_seconds)

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self._relay.ca_file or None)


def _raise_answer(code: int, text: bytes | str, error: smtplib.SMTPException) -> NoReturn:
    """A 5xx answer is final; a 4xx (or anything else) is raised again to be retried."""
    if code >= 500:
        raise _Final(f"the relay answered {code} {_text(text)}") from error
    raise error


def _transient(error: OSError) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        return f"the relay answered {error.smtp_code} {_text(error.smtp_error)}"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(error.recipients.values()))
        return f"the relay answered {code} {_text(text)}"
    return f"the relay could not be reached: {error}"


def _text(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
