"""Inbound email from Mailgun routes: a route's `forward()` post (fields as Mailgun's "Receiving
Messages via HTTP" documents them) decoded into an InboundMessage, and the webhook signature
(hex HMAC-SHA256 of timestamp + token under the signing key) checked, as Mailgun's own
"Securing Webhooks" sample computes it."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from callcenter.domain.messages import MAX_BODY_CHARS, MAX_SUBJECT_CHARS, Channel, InboundMessage
from callcenter.errors import InvalidInput, Unauthorized
from callcenter.gateways.mailgun.inbound import MAX_REFERENCES, check_signature, inbound_email

KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
TOLERANCE = 300
TOKEN = "c2f4a7d1b9e03f6a8c5d2e7b1a9f4c6d3e8b0a2f5c7d9e1b3a"  # 50 characters, as Mailgun's


def mailgun_signature(key: str, timestamp: str, token: str) -> str:
    """Mailgun's scheme, written out independently of the code under test."""
    return hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def signed(timestamp: int = NOW, token: str = TOKEN, key: str = KEY) -> dict[str, str]:
    return {
        "timestamp": str(timestamp),
        "token": token,
        "signature": mailgun_signature(key, str(timestamp), token),
    }


MIME_HEADERS = {
    "Received": "by mail-lf1-f41.google.com with SMTP id 2adb3069b0e04",
    "Mime-Version": "1.0",
    "From": "Pat Doe <Pat.Doe@Example.com>",
    "Date": "Thu, 1 Jan 2026 00:00:00 +0000",
    "Message-Id": "<CAF=7bq+Xy1@mail.gmail.com>",
    "In-Reply-To": "<m-1a2b.t-3c4d@callcenter>",
    "References": "<CAF=first@mail.gmail.com> <m-1a2b.t-3c4d@callcenter>",
    "Subject": "Re: Order 1234",
    "To": "Support <support@shop.example>",
    "Content-Type": 'multipart/alternative; boundary="000000000000b1c2"',
}


def route_post(headers: dict[str, str] | None = None, /, **fields: str) -> dict[str, str]:
    """A reply from a customer as a Mailgun route forwards it (urlencoded: no attachments).

    Mailgun posts each MIME header as its own field and all of them in `message-headers`;
    `headers` changes a header in both places ("" leaves it out)."""
    mime = {**MIME_HEADERS, **(headers or {})}
    mime = {name: value for name, value in mime.items() if value}
    form = {
        **mime,
        "X-Envelope-From": "<Pat.Doe@Example.com>",
        "X-Mailgun-Incoming": "Yes",
        "body-html": "<div>Still nothing, see below.</div><blockquote>...</blockquote>",
        "body-plain": "Still nothing.\r\n\r\nOn Wed, Ann wrote:\r\n> It ships tomorrow.\r\n",
        "from": "Pat Doe <Pat.Doe@Example.com>",
        "message-headers": json.dumps([[name, value] for name, value in mime.items()]),
        "recipient": "support@shop.example",
        "sender": "Pat.Doe@Example.com",
        "stripped-html": "<div>Still nothing.</div>",
        "stripped-signature": "",
        "stripped-text": "Still nothing.",
        "subject": "Re: Order 1234",
        **signed(),
    }
    form.update(fields)
    return form


def test_a_route_post_is_decoded_into_an_inbound_email() -> None:
    assert inbound_email(route_post()) == InboundMessage(
        channel=Channel.EMAIL,
        sender="pat.doe@example.com",  # lower case
        recipient="support@shop.example",
        body="Still nothing.",  # stripped-text: the quoted history left out
        external_id="<CAF=7bq+Xy1@mail.gmail.com>",  # Message-IDs keep their angle brackets
        sender_name="Pat Doe",
        subject="Re: Order 1234",
        in_reply_to="<m-1a2b.t-3c4d@callcenter>",
        references=("<m-1a2b.t-3c4d@callcenter>", "<CAF=first@mail.gmail.com>"),  # newest first
    )


@pytest.mark.parametrize(
    ("fields", "body"),
    [
        ({"stripped-text": ""}, "Still nothing.\r\n\r\nOn Wed, Ann wrote:\r\n> It ships tomorrow."),
        ({"stripped-text": "  \n", "body-plain": ""}, "[an email without text]"),
        ({"stripped-text": "ok", "body-plain": "x" * (MAX_BODY_CHARS * 3)}, "ok"),
    ],
    ids=["no-stripped-text", "no-text-at-all", "long-history-stripped"],
)
def test_the_body_prefers_stripped_text_then_body_plain(fields: dict[str, str], body: str) -> None:
    assert inbound_email(route_post(**fields)).body == body


@pytest.mark.parametrize(
    ("fields", "sender", "name"),
    [
        ({"sender": "", "from": '"Doe, Pat" <PAT@example.com>'}, "pat@example.com", "Doe, Pat"),
        ({"from": "pat.doe@example.com"}, "pat.doe@example.com", None),
        ({"from": "  <pat.doe@example.com>"}, "pat.doe@example.com", None),
        (
            {
                "sender": "news-bounces+pat=example.com@lists.example",
                "from": "Pat <pat@example.com>",
            },
            "pat@example.com",
            "Pat",
        ),
        ({"from": "undisclosed", "sender": "pat@example.com"}, "pat@example.com", None),
    ],
    ids=[
        "from-without-envelope-sender",
        "no-display-name",
        "empty-display-name",
        "from-over-a-list-bounce-address",
        "envelope-sender-when-from-is-no-address",
    ],
)
def test_sender_and_display_name(fields: dict[str, str], sender: str, name: str | None) -> None:
    message = inbound_email(route_post(**fields))
    assert (message.sender, message.sender_name) == (sender, name)


@pytest.mark.parametrize(
    ("fields", "external_id", "in_reply_to"),
    [
        ({"Message-Id": "CAF=bare@mail.gmail.com"}, "<CAF=bare@mail.gmail.com>", None),
        ({"Message-Id": "  <a@b>  ", "In-Reply-To": "a@b"}, "<a@b>", "<a@b>"),
        ({"In-Reply-To": "Pat's message of <x@y> (Thu)"}, None, "<x@y>"),
    ],
    ids=["bare-id-bracketed", "spaces-trimmed", "old-style-in-reply-to"],
)
def test_message_ids_are_stored_in_angle_brackets(
    fields: dict[str, str], external_id: str | None, in_reply_to: str | None
) -> None:
    message = inbound_email(route_post({"In-Reply-To": "", **fields}))
    assert message.external_id == (external_id or "<CAF=7bq+Xy1@mail.gmail.com>")
    assert message.in_reply_to == in_reply_to


def test_references_are_newest_first_and_capped() -> None:
    chain = " ".join(f"<r{i}@example.com>" for i in range(MAX_REFERENCES + 5))
    message = inbound_email(route_post({"References": chain, "In-Reply-To": ""}))
    assert message.in_reply_to is None
    assert len(message.references) == MAX_REFERENCES
    assert message.references[0] == f"<r{MAX_REFERENCES + 4}@example.com>"  # the parent
    assert message.references[-1] == "<r5@example.com>"  # the oldest ones dropped


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"sender": "", "from": ""}, "/from"),
        ({"sender": "not an address", "from": "Pat <not an address>"}, "/from"),
        ({"sender": "pat@localhost", "from": "pat@localhost"}, "/from"),
        ({"recipient": ""}, "/recipient"),
        ({"recipient": "support"}, "/recipient"),
        ({"Message-Id": "<two words@example.com>"}, "/Message-Id"),
        ({"In-Reply-To": "<>"}, "/In-Reply-To"),
        ({"message-headers": "{not json", "References": ""}, "/message-headers"),
        ({"message-headers": '[["References"]]', "References": ""}, "/message-headers"),
        ({"subject": "s" * (MAX_SUBJECT_CHARS + 1)}, "/subject"),
        ({"stripped-text": "", "body-plain": "b" * (MAX_BODY_CHARS + 1)}, "/body-plain"),
        ({"stripped-text": "b" * (MAX_BODY_CHARS + 1)}, "/stripped-text"),
    ],
)
def test_bad_fields_are_invalid_input_naming_the_field(
    fields: dict[str, str], pointer: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        inbound_email(route_post(**fields))
    assert caught.value.pointer == pointer


def test_a_message_id_nowhere_is_invalid_input() -> None:
    with pytest.raises(InvalidInput) as caught:
        inbound_email(route_post({"Message-Id": ""}))
    assert caught.value.pointer == "/Message-Id"


@pytest.mark.parametrize(
    "drop",
    [
        ["Message-Id", "In-Reply-To", "References"],  # only in message-headers
        ["message-headers"],  # only as their own fields
    ],
    ids=["from-message-headers", "from-own-fields"],
)
def test_threading_headers_are_read_from_either_place(drop: list[str]) -> None:
    form = {k: v for k, v in route_post().items() if k not in drop}
    assert inbound_email(form) == inbound_email(route_post())


def test_threading_header_fields_are_read_in_any_case() -> None:
    form = route_post({"Message-Id": "", "In-Reply-To": "", "References": ""})
    form.update({"Message-ID": "<a@example.com>", "in-reply-to": "<b@example.com>"})
    message = inbound_email(form)
    assert (message.external_id, message.in_reply_to) == ("<a@example.com>", "<b@example.com>")


def test_a_folded_subject_is_one_line() -> None:
    message = inbound_email(route_post(subject="Re: Order 1234,\r\n\tstill missing"))
    assert message.subject == "Re: Order 1234, still missing"


def test_the_limits_themselves_are_accepted() -> None:
    message = inbound_email(
        route_post(**{"subject": "s" * MAX_SUBJECT_CHARS, "stripped-text": "b" * MAX_BODY_CHARS})
    )
    assert (len(message.subject or ""), len(message.body)) == (MAX_SUBJECT_CHARS, MAX_BODY_CHARS)


def check(form: dict[str, str], *, key: str = KEY, now: float = NOW) -> str:
    return check_signature(key, form, now=now, tolerance_seconds=TOLERANCE)


def test_a_mailgun_signature_is_accepted_and_its_token_returned() -> None:
    assert check(route_post()) == TOKEN
    upper = route_post(signature=signed()["signature"].upper())  # hex in either case
    assert check(upper) == TOKEN


@pytest.mark.parametrize("edge", [-TOLERANCE, TOLERANCE])
def test_the_timestamp_may_be_off_by_the_tolerance(edge: int) -> None:
    assert check(route_post(**signed(timestamp=NOW + edge))) == TOKEN


@pytest.mark.parametrize(
    ("form", "key", "reason"),
    [
        (route_post(signature="0" * 64), KEY, "does not match"),
        (route_post(token="d" + TOKEN[1:]), KEY, "does not match"),
        (route_post(timestamp=str(NOW + 1)), KEY, "does not match"),
        (route_post(), "key-another", "does not match"),
        (route_post(**signed(timestamp=NOW - TOLERANCE - 1)), KEY, "outside"),
        (route_post(**signed(timestamp=NOW + TOLERANCE + 1)), KEY, "outside"),
        (route_post(timestamp="1767225600.5"), KEY, "Unix seconds"),
        (route_post(timestamp=""), KEY, "missing"),
        (route_post(token=""), KEY, "missing"),
        (route_post(signature=""), KEY, "missing"),
        (route_post(), "", "SIGNING_KEY"),
    ],
    ids=[
        "forged",
        "token-changed",
        "timestamp-changed",
        "other-key",
        "stale",
        "future",
        "not-seconds",
        "no-timestamp",
        "no-token",
        "no-signature",
        "no-key-configured",
    ],
)
def test_forged_stale_or_unsigned_posts_are_unauthorized(
    form: dict[str, str], key: str, reason: str
) -> None:
    with pytest.raises(Unauthorized, match=reason):
        check(form, key=key)
