"""The customer's chat socket (`/ws/chat`): its messages both ways, each a JSON text frame
with a `type`. The OpenAPI document lists them (`x-websocket-messages` of chatSocket)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from callcenter.domain.chat_tokens import MAX_TOKEN_CHARS
from callcenter.domain.messages import MAX_BODY_CHARS

# client → server


class Authenticate(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="auth"
):
    """The first message: the session token `POST /v1/chat/sessions` answered."""

    token: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TOKEN_CHARS)]


class Written(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="message"):
    """The customer writes (the length is checked by the socket, which says why)."""

    body: Annotated[str, msgspec.Meta(extra_json_schema={"maxLength": MAX_BODY_CHARS})]


class CustomerTyping(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="typing"
):
    """The customer is typing (the agent's desk may show it; once a second is plenty)."""


class Leave(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="leave"):
    """The customer ends the chat."""


# server → client


class PublicMessage(msgspec.Struct, frozen=True, kw_only=True):
    """What the customer sees of a message: no agent id, no sentiment score."""

    id: str
    at: datetime
    author: str  # customer | agent
    body: str  # text: shown as text, never as markup


class History(msgspec.Struct, frozen=True, kw_only=True, tag="history"):
    """The conversation so far: after authenticating, and again whenever the socket may
    have missed something. `agent` is the name of the agent working the chat, if any."""

    state: str
    agent: str | None
    messages: list[PublicMessage]


class MessageFrame(msgspec.Struct, frozen=True, kw_only=True, tag="message"):
    message: PublicMessage


class StateFrame(msgspec.Struct, frozen=True, kw_only=True, tag="state"):
    """The chat changed: `connected` with an agent's name (it joined), `queued` again
    without one (it left), `ended` (closed)."""

    state: str
    agent: str | None


class TypingFrame(msgspec.Struct, frozen=True, kw_only=True, tag="typing"):
    """The agent is typing."""


class ErrorFrame(msgspec.Struct, frozen=True, kw_only=True, tag="error"):
    """A frame the server did not take, and why; the chat goes on."""

    reason: str


CHAT_MESSAGES = (
    (Authenticate, Written, CustomerTyping, Leave),
    (History, MessageFrame, StateFrame, TypingFrame, ErrorFrame),
)
FIRST = msgspec.json.Decoder(Authenticate)
LATER = msgspec.json.Decoder(Written | CustomerTyping | Leave)
ENCODER = msgspec.json.Encoder()
