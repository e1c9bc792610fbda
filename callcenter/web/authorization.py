"""Authorization from the route table: each operation's declared roles, enforced here and
nowhere else.

For a request whose operation declares token roles, the middleware authenticates (bearer
token; or `?token=`, or the generic dialect's signed body, where the operation says so),
grants by the declaration (`domain.auth.grant`), and for an agent granted only its own
things checks the path against `services.access`. Handlers read who is calling with
`caller(request)`. Operations that are open, or signed by a vendor (the handler checks
that signature), and websockets that authenticate with their first message (they call
`permit` with the same roles) pass through."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from callcenter.domain.auth import TOKEN_ROLES, Grant, Principal, permit
from callcenter.web.operation import Credentials, Operation
from callcenter.web.requests import read_body
from callcenter.web.state import SERVICES

PRINCIPAL = web.RequestKey("principal", Principal)
OPERATION = web.RequestKey("operation", Operation)


def authorization(operations: Iterable[Operation]) -> Middleware:
    """The middleware enforcing `operations`' roles (routes are named by operation id)."""
    by_name = {op.operation_id: op for op in operations}

    @web.middleware
    async def authorize(request: web.Request, handler: Handler) -> web.StreamResponse:
        op = by_name.get(request.match_info.route.name or "")
        if op is None:
            return await handler(request)  # no route: aiohttp answers 404/405
        request[OPERATION] = op
        if op.credentials is Credentials.FIRST_MESSAGE or TOKEN_ROLES.isdisjoint(op.roles):
            return await handler(request)
        principal = await _authenticate(request, op.credentials)
        if permit(op.roles, principal) is Grant.OWN:
            assert principal.agent_id is not None  # an OWN grant is an agent's
            await request.app[SERVICES].access.check(principal.agent_id, request.match_info)
        request[PRINCIPAL] = principal
        return await handler(request)

    return authorize


def caller(request: web.Request) -> Principal:
    """Who sent the request, as the authorization middleware established."""
    return request[PRINCIPAL]


def bearer_header(request: web.Request, credentials: Credentials) -> str | None:
    """The `Authorization` value the request authenticates with (`?token=` made one)."""
    header = request.headers.get("Authorization")
    token = request.query.get("token")
    if header is None and token and credentials is Credentials.BEARER_OR_QUERY:
        return f"Bearer {token}"
    return header


async def _authenticate(request: web.Request, credentials: Credentials) -> Principal:
    auth = request.app[SERVICES].auth
    header = bearer_header(request, credentials)
    if credentials is Credentials.BEARER_OR_SIGNATURE and not header:
        if auth.signatures_enabled:
            return await auth.verify_signed_request(request.headers, await read_body(request))
    return await auth.authenticate(header)
