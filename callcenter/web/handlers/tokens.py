"""`/v1/admin/tokens`: issue API tokens over the API (admin only), e.g. for agent desktops
or a traffic simulator; `callcenter tokens` does the same from a shell."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import msgspec
from aiohttp import web

from callcenter.domain.auth import Role
from callcenter.errors import InvalidInput
from callcenter.web.problem import json_response
from callcenter.web.requests import decode_json
from callcenter.web.state import SERVICES

MAX_TTL_SECONDS = 366 * 86_400
ROLE_HINT = (
    "role must be admin, supervisor, gateway or agent:<id> (id: 1-64 of A-Z a-z 0-9 _ . @ -)"
)


class TokenRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    role: Role
    label: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    ttl_seconds: Annotated[int, msgspec.Meta(ge=60, le=MAX_TTL_SECONDS)] | None = None


class IssuedToken(msgspec.Struct, frozen=True, kw_only=True):
    """The token is shown once: only its digest is stored."""

    id: str
    token: str
    role: str
    label: str
    expires_at: datetime | None


async def create_token(request: web.Request) -> web.Response:
    try:
        asked = await decode_json(request, TokenRequest)
    except InvalidInput as error:
        if error.pointer != "/role":
            raise
        raise InvalidInput(ROLE_HINT, "/role") from None
    ttl = timedelta(seconds=asked.ttl_seconds) if asked.ttl_seconds else None
    token, stored = await request.app[SERVICES].auth.create_token(asked.role, asked.label, ttl)
    issued = IssuedToken(
        id=stored.id,
        token=token,
        role=stored.role,
        label=stored.label,
        expires_at=stored.expires_at,
    )
    return json_response(issued, status=201)
