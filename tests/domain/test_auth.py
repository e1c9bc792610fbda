"""Roles: parsing `admin | supervisor | gateway | agent:<id>` and who may do what."""

from __future__ import annotations

import re

import msgspec
import pytest

from callcenter.domain import auth
from callcenter.domain.auth import (
    Grant,
    Principal,
    Role,
    RoleKind,
    grant,
    parse_role,
    permit,
)
from callcenter.errors import Forbidden, InvalidInput

ADMIN = Principal(RoleKind.ADMIN)
SUPERVISOR = Principal(RoleKind.SUPERVISOR)
GATEWAY = Principal(RoleKind.GATEWAY)
AGENT_A1 = Principal(RoleKind.AGENT, "a1")
AGENT_A2 = Principal(RoleKind.AGENT, "a2")


ACCEPTED = [
    ("admin", ADMIN),
    ("supervisor", SUPERVISOR),
    ("gateway", GATEWAY),
    ("agent:a1", AGENT_A1),
    ("agent:Ann.Lee@site-2_b", Principal(RoleKind.AGENT, "Ann.Lee@site-2_b")),
    ("agent:" + "x" * 64, Principal(RoleKind.AGENT, "x" * 64)),
]


@pytest.mark.parametrize(("text", "principal"), ACCEPTED)
def test_parse_role_accepts(text: str, principal: Principal) -> None:
    parsed = parse_role(text)
    assert parsed == principal
    assert parsed.role == text


REJECTED = [
    "",
    "0",
    "root",
    "Admin",
    "ADMIN",
    " admin",
    "admin ",
    "agent",
    "agent:",
    "agent:a 1",
    "agent:a1:b",
    "agent:a/1",
    "agent:" + "x" * 65,
    "Agent:a1",
    "agent:a1\n",
    "supervisor\n",
]


@pytest.mark.parametrize("text", REJECTED)
def test_parse_role_rejects(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_role(text)
    assert caught.value.pointer == "/role"
    assert repr(text) in caught.value.reason


@pytest.mark.parametrize(
    ("text", "valid"), [(t, True) for t, _ in ACCEPTED] + [(t, False) for t in REJECTED]
)
def test_the_role_type_accepts_what_parse_role_does(text: str, valid: bool) -> None:
    """`Role` validates requests and is the document's pattern: it must agree."""
    encoded = msgspec.json.encode(text)
    if valid:
        assert msgspec.json.decode(encoded, type=Role) == text
    else:
        with pytest.raises(msgspec.ValidationError):
            msgspec.json.decode(encoded, type=Role)
    pattern = msgspec.json.schema(Role)["pattern"]
    assert (re.search(pattern, text) is not None) is valid


def test_role_of_a_principal() -> None:
    assert [p.role for p in (ADMIN, SUPERVISOR, GATEWAY, AGENT_A1)] == [
        "admin",
        "supervisor",
        "gateway",
        "agent:a1",
    ]


@pytest.mark.parametrize(
    ("principal", "roles", "expected"),
    [
        (ADMIN, (auth.ADMIN,), Grant.ALL),
        (ADMIN, (auth.SUPERVISOR, auth.SELF), Grant.NONE),  # admin only where declared
        (SUPERVISOR, (auth.SUPERVISOR, auth.ADMIN), Grant.ALL),
        (SUPERVISOR, (auth.GATEWAY, auth.ADMIN), Grant.NONE),
        (GATEWAY, (auth.GATEWAY,), Grant.ALL),
        (GATEWAY, (auth.SELF, auth.SUPERVISOR), Grant.NONE),
        (AGENT_A1, (auth.SELF, auth.SUPERVISOR), Grant.OWN),
        (AGENT_A1, (auth.SUPERVISOR, auth.ADMIN), Grant.NONE),
        (AGENT_A1, (auth.OPEN,), Grant.NONE),
        (SUPERVISOR, (auth.TWILIO_SIGNED,), Grant.NONE),
    ],
)
def test_grant(principal: Principal, roles: tuple[str, ...], expected: Grant) -> None:
    assert grant(roles, principal) is expected
    if expected is Grant.NONE:
        with pytest.raises(Forbidden) as caught:
            permit(roles, principal)
        assert repr(principal.role) in str(caught.value)
    else:
        assert permit(roles, principal) is expected
