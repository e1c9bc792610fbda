"""Roles and what each may do. Pure: token storage and HTTP live elsewhere."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum, StrEnum
from typing import Annotated

import msgspec

from callcenter.domain.agents import AGENT_ID_PATTERN
from callcenter.errors import Forbidden, InvalidInput

_AGENT_ROLE = re.compile(f"agent:({AGENT_ID_PATTERN})")
# `(?!\n)$`: Python's `$` also matches before a final newline, JSON Schema's does not
Role = Annotated[
    str,
    msgspec.Meta(
        pattern=rf"^(?:admin|supervisor|gateway|agent:{AGENT_ID_PATTERN})(?!\n)$",
        description="admin, supervisor, gateway or agent:<id>",
    ),
]


class RoleKind(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    GATEWAY = "gateway"
    AGENT = "agent"


class Principal(msgspec.Struct, frozen=True):
    """Who is calling: a role, and for agents the agent id."""

    kind: RoleKind
    agent_id: str | None = None

    @property
    def role(self) -> str:
        return f"agent:{self.agent_id}" if self.kind is RoleKind.AGENT else str(self.kind)


def parse_role(text: str) -> Principal:
    """Parse `admin | supervisor | gateway | agent:<id>`; raise InvalidInput otherwise."""
    match = _AGENT_ROLE.fullmatch(text)
    if match:
        return Principal(RoleKind.AGENT, match.group(1))
    if text in (RoleKind.ADMIN, RoleKind.SUPERVISOR, RoleKind.GATEWAY):
        return Principal(RoleKind(text))
    raise InvalidInput(
        f"unknown role {text!r}: use admin, supervisor, gateway or agent:<id>", "/role"
    )


# What an operation may declare in its roles: a role name, SELF (an agent acting on what is
# its own), or a credential that is not a token (open, or a vendor's request signature).
ADMIN = "admin"
SUPERVISOR = "supervisor"
GATEWAY = "gateway"
SELF = "agent:<self>"
OPEN = "none"
TWILIO_SIGNED = "signed: X-Twilio-Signature"
JAMBONZ_SIGNED = "signed: Jambonz-Signature"
MAILGUN_SIGNED = "signed: Mailgun signature (timestamp, token, signature fields)"
TOKEN_ROLES = frozenset({ADMIN, SUPERVISOR, GATEWAY, SELF})


class Grant(Enum):
    """What a principal may do with an operation."""

    NONE = "none"
    ALL = "all"  # anything the operation reaches
    OWN = "own"  # only what is the agent's own (its presence, offers, calls, callers)


def grant(roles: Iterable[str], principal: Principal) -> Grant:
    """The grant `roles` (an operation's declaration) give `principal`."""
    declared = frozenset(roles)
    if principal.kind is RoleKind.AGENT:
        return Grant.OWN if SELF in declared and principal.agent_id else Grant.NONE
    return Grant.ALL if str(principal.kind) in declared else Grant.NONE


def permit(roles: Iterable[str], principal: Principal) -> Grant:
    """`grant`, raising Forbidden when it is NONE."""
    granted = grant(roles, principal)
    if granted is Grant.NONE:
        raise Forbidden(f"role {principal.role!r} may not do this")
    return granted
