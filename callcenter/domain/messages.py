"""Conversation messages of text tasks (chat, SMS, email): who wrote what, and the wire-
neutral shapes a channel adapter hands in (an inbound message) and gets back (a reply to
send)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import msgspec

# A message body as a customer or an agent typed it: plain text, never markup.
MAX_BODY_CHARS = 4000
MAX_SUBJECT_CHARS = 300


class Channel(StrEnum):
    """What kind of task this is. A callback is voice to the agent's phone."""

    VOICE = "voice"
    CALLBACK = "callback"
    CHAT = "chat"
    SMS = "sms"
    EMAIL = "email"


# Channels whose tasks are conversations of messages, held several at a time.
TEXT_CHANNELS = frozenset({Channel.CHAT, Channel.SMS, Channel.EMAIL})


class Author(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    SYSTEM = "system"


class InboundMessage(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A customer's message as a channel adapter decoded it from the wire.

    `sender` is the customer's identity on that channel (an E.164 number for SMS, an
    address for email); `external_id` the channel's own id (Twilio MessageSid, the email's
    Message-ID), which makes a redelivered message a duplicate; `in_reply_to` and
    `references` thread an email into its conversation."""

    channel: Channel
    sender: str
    recipient: str
    body: str
    external_id: str
    sender_name: str | None = None
    subject: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()


class OutboundMessage(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An agent's reply for a channel adapter to send: to the customer's identity, from
    the address or number the conversation came in on. For email, `message_id` is the new
    message's own Message-ID, `in_reply_to`/`references` thread it."""

    channel: Channel
    to: str
    from_: str = msgspec.field(name="from")
    body: str
    subject: str | None = None
    message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()


class Message(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One message of a task's conversation, as stored and shown."""

    id: str
    task_id: str
    at: datetime
    author: Author
    body: str
    agent_id: str | None = None
    subject: str | None = None
    external_id: str | None = None
    sentiment: float | None = None  # a customer's message: the scorer's -1..1
    sentiment_label: str | None = None  # ... and its call: positive, neutral or negative


class Conversation(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Where a text task's conversation stands (the messages themselves are stored apart).

    `customer` is the customer's identity on the channel (a number, an address, a chat
    session), `address` ours (the number or address they wrote to). `thread` holds the
    email Message-IDs seen in the conversation, newest last, so replies thread."""

    customer: str
    address: str | None = None
    subject: str | None = None
    customer_messages: int = 0
    agent_messages: int = 0
    first_customer_at: datetime | None = None
    first_response_at: datetime | None = None
    last_customer_at: datetime | None = None
    last_agent_at: datetime | None = None
    thread: tuple[str, ...] = ()
