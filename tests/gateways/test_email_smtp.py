"""Agents' email replies through an SMTP relay, against a real SMTP server on loopback
(aiosmtpd): the threading headers and the UTF-8 body as the server received them, "Re: "
once, 4xx answers retried, 5xx answers final, AUTH against the server's authenticator, and
the event loop never blocked (blockbuster)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from blockbuster import blockbuster_ctx

from callcenter.backoff import Backoff
from callcenter.domain.messages import Channel, OutboundMessage
from callcenter.errors import ReplyNotSent
from callcenter.gateways.smtp.sender import (
    ATTEMPTS,
    MAX_REFERENCES,
    SmtpRelay,
    SmtpSender,
    reply_subject,
)
from callcenter.storage.embedded import free_port

SUPPORT = "support@shop.example"
CUSTOMER = "pat.doe@example.com"
QUICK = Backoff(0.01, 0.02)  # the real policy, with waits short enough for a test


class Relay:
    """aiosmtpd's handler: keeps what it accepted, answers from `data_answers` (then 250)
    at DATA and from `rcpt_answers` (then 250) at RCPT TO, and counts what it was asked."""

    def __init__(self) -> None:
        self.received: list[EmailMessage] = []
        self.envelopes: list[tuple[str | None, list[str]]] = []
        self.data_answers: list[str] = []
        self.rcpt_answers: list[str] = []
        self.data_commands = 0
        self.rcpt_commands = 0
        self.logins: list[tuple[bytes, bytes]] = []
        self.login_connections: set[object] = set()

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        self.rcpt_commands += 1
        if self.rcpt_answers:
            return self.rcpt_answers.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.data_commands += 1
        if self.data_answers:
            return self.data_answers.pop(0)
        assert isinstance(envelope.content, bytes)
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(parsed)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 2.0.0 queued"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        """aiosmtpd's authenticator: one account, "relay-user" / "s3cret pass:word"."""
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login, data.password))
        self.login_connections.add(session.peer)
        ok = (data.login, data.password) == (b"relay-user", b"s3cret pass:word")
        return AuthResult(success=ok, handled=False)


StartRelay = Callable[..., tuple[Relay, int]]


@pytest.fixture
def start_relay() -> Iterator[StartRelay]:
    """Start an SMTP server on 127.0.0.1 (keyword arguments go to aiosmtpd's SMTP); every
    one started is stopped after the test."""
    controllers: list[Controller] = []

    def start(**smtp_options: Any) -> tuple[Relay, int]:
        relay = Relay()
        port = free_port()
        options = dict(smtp_options)
        if options.pop("with_auth", False):
            options["authenticator"] = relay.authenticate
        controller = Controller(relay, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return relay, port

    yield start
    for controller in controllers:
        controller.stop()


def reply(**fields: Any) -> OutboundMessage:
    values: dict[str, Any] = {
        "channel": Channel.EMAIL,
        "to": CUSTOMER,
        "from_": SUPPORT,
        "body": "Bonjour Pat,\n\nVotre colis part demain. Désolée ! — Ann 📦\n",
        "subject": "Commande n° 1234",
        "message_id": "<m-1a2b.t-3c4d@callcenter>",
        "in_reply_to": "<CAF=second@mail.gmail.com>",
        "references": ("<CAF=first@mail.gmail.com>", "<CAF=second@mail.gmail.com>"),
    }
    values.update(fields)
    return OutboundMessage(**values)


def sender_for(port: int, **relay: Any) -> SmtpSender:
    settings: dict[str, Any] = {"host": "127.0.0.1", "port": port, "starttls": False}
    settings.update(relay)
    return SmtpSender(SmtpRelay(**settings), backoff=QUICK)


async def test_a_reply_reaches_the_relay_with_threading_headers_and_utf8_text(
    start_relay: StartRelay,
) -> None:
    relay, port = start_relay()
    with blockbuster_ctx(scanned_modules=["callcenter"]):  # smtplib stays off the loop
        sent_id = await sender_for(port).send(reply())

    (mail,) = relay.received
    assert sent_id == "<m-1a2b.t-3c4d@callcenter>"
    names = ("Message-ID", "From", "To", "Subject", "In-Reply-To", "References")
    assert {name: mail[name] for name in names} == {
        "Message-ID": sent_id,
        "From": SUPPORT,
        "To": CUSTOMER,
        "Subject": "Re: Commande n° 1234",  # RFC 2047 on the wire, decoded here
        "In-Reply-To": "<CAF=second@mail.gmail.com>",
        "References": "<CAF=first@mail.gmail.com> <CAF=second@mail.gmail.com>",
    }
    sent_at = parsedate_to_datetime(mail["Date"])
    assert mail["Date"].endswith(" +0000")
    assert abs(sent_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert (mail.get_content_type(), mail.get_content_charset()) == ("text/plain", "utf-8")
    # 7-bit on the wire: smtplib does not announce 8BITMIME
    assert mail["Content-Transfer-Encoding"] in ("quoted-printable", "base64")
    text = mail.get_content().replace("\r\n", "\n")  # the wire's line ends
    assert text == "Bonjour Pat,\n\nVotre colis part demain. Désolée ! — Ann 📦\n"
    assert relay.envelopes == [(SUPPORT, [CUSTOMER])]


async def test_the_relay_from_address_wins_and_a_missing_message_id_is_made(
    start_relay: StartRelay,
) -> None:
    relay, port = start_relay()
    sender = sender_for(port, from_address="help@shop.example")
    sent_id = await sender.send(reply(message_id=None, in_reply_to=None, references=()))

    (mail,) = relay.received
    assert mail["From"] == "help@shop.example"
    assert sent_id == mail["Message-ID"]
    assert sent_id.startswith("<") and sent_id.endswith("@shop.example>")
    assert "In-Reply-To" not in mail and "References" not in mail


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Order 1234", "Re: Order 1234"),
        ("Re: Order 1234", "Re: Order 1234"),
        ("RE: Order 1234", "RE: Order 1234"),
        ("re:Order 1234", "re:Order 1234"),
        ("  Order 1234  ", "Re: Order 1234"),
        ("Fwd: Order 1234", "Re: Fwd: Order 1234"),
        ("Order\r\n 1234", "Re: Order 1234"),  # folded: a header is one line
        (None, "Re:"),
    ],
)
def test_re_is_added_once(subject: str | None, expected: str) -> None:
    assert reply_subject(subject) == expected
    assert reply_subject(reply_subject(subject)) == expected


@pytest.mark.parametrize(
    "answers",
    [
        {"data_answers": ["451 4.3.0 temporary local problem"]},
        {"data_answers": ["421 4.7.0 try again later", "452 4.3.1 insufficient storage"]},
        {"rcpt_answers": ["450 4.2.1 mailbox busy"]},
    ],
    ids=["451-at-data", "twice-4xx-at-data", "450-at-rcpt"],
)
async def test_4xx_answers_are_tried_again(
    start_relay: StartRelay, answers: dict[str, list[str]]
) -> None:
    relay, port = start_relay()
    relay.data_answers = list(answers.get("data_answers", []))
    relay.rcpt_answers = list(answers.get("rcpt_answers", []))
    sent_id = await sender_for(port).send(reply())
    (mail,) = relay.received
    assert mail["Message-ID"] == sent_id  # the same message each time: no duplicate ids


async def test_4xx_until_the_attempts_run_out_is_not_sent(start_relay: StartRelay) -> None:
    relay, port = start_relay()
    relay.data_answers = ["451 4.3.0 temporary local problem"] * ATTEMPTS
    with pytest.raises(ReplyNotSent, match="451"):
        await sender_for(port).send(reply())
    assert (relay.data_commands, relay.received) == (ATTEMPTS, [])


@pytest.mark.parametrize(
    "answer", ["550 5.1.1 mailbox unavailable", "554 5.7.1 message refused as spam"]
)
async def test_a_5xx_answer_is_final_and_named(start_relay: StartRelay, answer: str) -> None:
    relay, port = start_relay()
    relay.data_answers = [answer]
    with pytest.raises(ReplyNotSent) as caught:
        await sender_for(port).send(reply())
    assert relay.data_commands == 1  # not tried again
    assert caught.value.channel == "email"
    assert answer.split()[0] in str(caught.value) and answer.split()[1] in str(caught.value)


async def test_a_5xx_for_the_recipient_is_final(start_relay: StartRelay) -> None:
    relay, port = start_relay()
    relay.rcpt_answers = ["550 5.1.1 <pat.doe@example.com>: no such user"]
    with pytest.raises(ReplyNotSent, match=r"550 5\.1\.1"):
        await sender_for(port).send(reply())
    assert (relay.rcpt_commands, relay.data_commands) == (1, 0)


async def test_a_long_thread_keeps_its_first_and_newest_references(
    start_relay: StartRelay,
) -> None:
    relay, port = start_relay()
    thread = tuple(f"<m{i}@example.com>" for i in range(MAX_REFERENCES + 10))
    await sender_for(port).send(reply(references=thread, in_reply_to=thread[-1]))
    (mail,) = relay.received
    sent = tuple(mail["References"].split())
    assert sent == (thread[0], *thread[-(MAX_REFERENCES - 1) :])


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_a_non_ascii_password_is_final(start_relay: StartRelay) -> None:
    relay, port = start_relay(with_auth=True, auth_required=True, auth_require_tls=False)
    sender = sender_for(port, username="relay-user", password="pässword")
    with pytest.raises(ReplyNotSent, match="ASCII"):
        await sender.send(reply())
    assert relay.logins == []


async def test_credentials_for_a_relay_without_auth_are_final(start_relay: StartRelay) -> None:
    relay, port = start_relay()  # offers no AUTH
    sender = sender_for(port, username="relay-user", password="s3cret pass:word")
    with pytest.raises(ReplyNotSent, match="AUTH extension not supported"):
        await sender.send(reply())
    assert relay.received == []


async def test_a_relay_nobody_listens_on_is_not_sent() -> None:
    with pytest.raises(ReplyNotSent, match="could not be reached"):
        await sender_for(free_port(), timeout_seconds=2.0).send(reply())


# aiosmtpd warns about AUTH without TLS; the relay is on loopback, so that is the case here
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_auth_with_username_and_password(start_relay: StartRelay) -> None:
    relay, port = start_relay(with_auth=True, auth_required=True, auth_require_tls=False)
    sender = sender_for(port, username="relay-user", password="s3cret pass:word")
    await sender.send(reply())
    assert relay.logins == [(b"relay-user", b"s3cret pass:word")]
    assert len(relay.received) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
@pytest.mark.parametrize(
    ("username", "password", "code"),
    [("relay-user", "wrong", "535"), ("", "", "530")],
    ids=["wrong-password", "no-credentials"],
)
async def test_refused_auth_is_final(
    start_relay: StartRelay, username: str, password: str, code: str
) -> None:
    relay, port = start_relay(with_auth=True, auth_required=True, auth_require_tls=False)
    sender = sender_for(port, username=username, password=password)
    with pytest.raises(ReplyNotSent, match=code):
        await sender.send(reply())
    # smtplib tries each mechanism the server offers (PLAIN, LOGIN), on one connection only
    assert len(relay.login_connections) == (1 if username else 0)
    assert relay.received == []


async def test_only_email_goes_out_by_smtp() -> None:
    with pytest.raises(ValueError, match="not an email"):
        await sender_for(free_port()).send(reply(channel=Channel.SMS))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (certificate, key), PEM."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@pytest.mark.parametrize("mode", ["starttls", "implicit_tls"])
async def test_tls_to_a_relay_trusted_through_ca_file(
    start_relay: StartRelay, certificate: tuple[Path, Path], mode: str
) -> None:
    context = server_tls(certificate)
    if mode == "starttls":
        relay, port = start_relay(tls_context=context, require_starttls=True)
    else:
        relay, port = start_relay(ssl_context=context)
    sender = sender_for(port, **{mode: True, "ca_file": str(certificate[0])})
    await sender.send(reply())
    assert len(relay.received) == 1


async def test_a_relay_certificate_nobody_vouches_for_is_final(
    start_relay: StartRelay, certificate: tuple[Path, Path]
) -> None:
    relay, port = start_relay(ssl_context=server_tls(certificate))
    with pytest.raises(ReplyNotSent, match="certificate is not trusted"):
        await sender_for(port, implicit_tls=True).send(reply())  # the system's CAs only
    assert relay.received == []
