"""Roles and what each may do. Pure: token storage and HTTP live elsewhere."""

from __future__ import annotations

import re
from enum import StrEnum
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


def require(principal: Principal, *allowed: RoleKind) -> None:
    """Raise Forbidden unless the principal has one of the allowed roles (admin always may)."""
    if principal.kind is RoleKind.ADMIN or principal.kind in allowed:
        return
    raise Forbidden(f"role {principal.role!r} may not do this")


def require_self_or(principal: Principal, agent_id: str, *allowed: RoleKind) -> None:
    """Like `require`, but an agent may also act on itself."""
    if principal.kind is RoleKind.AGENT and principal.agent_id == agent_id:
        return
    require(principal, *allowed)
