"""What one route declares: method, path, handler, who may call it, and the types of what it
reads and answers. The route table is built from these, and so is the OpenAPI document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from aiohttp import web

from callcenter.domain.agents import AGENT_ID_PATTERN
from callcenter.domain.auth import (
    ADMIN,
    GATEWAY,
    JAMBONZ_SIGNED,
    MAILGUN_SIGNED,
    OPEN,
    SELF,
    SUPERVISOR,
    TWILIO_SIGNED,
)

__all__ = [
    "ADMIN",
    "GATEWAY",
    "JAMBONZ_SIGNED",
    "MAILGUN_SIGNED",
    "OPEN",
    "SELF",
    "SUPERVISOR",
    "TWILIO_SIGNED",
    "Credentials",
    "Operation",
    "Param",
    "Text",
    "path_param",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Credentials(Enum):
    """Where the token of an operation whose roles are token roles comes from."""

    BEARER = "bearer"  # Authorization: Bearer <token>
    BEARER_OR_QUERY = "bearer or ?token="  # for media servers that cannot set headers
    BEARER_OR_SIGNATURE = "bearer or signed body"  # the generic dialect's HMAC webhook
    FIRST_MESSAGE = "first websocket message"  # the live pages' auth message


@dataclass(frozen=True, slots=True)
class Text:
    """A response body that is text of one media type rather than JSON."""

    media_type: str


HTML = Text("text/html")
PLAIN = Text("text/plain")
TWIML = Text("text/xml")


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    name: str
    where: str  # "path" | "query"
    description: str
    schema: dict[str, Any]
    required: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    """One route. `roles` are who may call it (enforced by `web/authorization.py` from this
    declaration alone): token roles (`ADMIN`, `SUPERVISOR`, `GATEWAY`, `SELF` for an agent
    on what is its own), or `OPEN`, or a vendor's signature that the handler checks.
    `responses` are (status, kind, description): kind is a msgspec type (or a tuple of
    them, any of which), a `Text`, `Problem` for problem+json, or None."""

    method: str
    path: str
    handler: Handler
    operation_id: str
    tag: str
    summary: str
    roles: tuple[str, ...]
    credentials: Credentials = Credentials.BEARER
    description: str = ""
    request: Any = None
    responses: tuple[tuple[int, Any, str], ...] = ()
    params: tuple[Param, ...] = ()
    # a websocket's messages: (what the client sends, what the server sends), msgspec types
    messages: tuple[tuple[Any, ...], tuple[Any, ...]] | None = None


def path_param(
    name: str, description: str, *, max_length: int, pattern: str | None = None
) -> Param:
    """A path parameter of 1 to `max_length` characters (the handlers' `path_id` limit)."""
    schema: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": max_length}
    if pattern:
        schema["pattern"] = pattern
    return Param(name=name, where="path", description=description, schema=schema)


# Characters Python's str.strip() removes (str.isspace), spelt out so that every regex
# dialect reads the class alike: a caller number needs one character outside it.
_SPACE = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"

AGENT = path_param("agent_id", "Agent id", max_length=64, pattern=rf"^{AGENT_ID_PATTERN}(?!\n)$")
CALL = path_param("call_id", "Call id (the gateway's)", max_length=128)
RESERVATION = path_param("reservation_id", "Reservation id (from the offer)", max_length=64)
NUMBER = path_param(
    "number",
    "Caller number (normalised to E.164 when it is a phone number); not blank",
    max_length=256,
    pattern=f"[^{_SPACE}]",
)
