"""`/v1/callers/{number}`: CRM profile upsert, history read, erasure."""

from __future__ import annotations

from aiohttp import web

from callcenter.domain.auth import RoleKind, require
from callcenter.domain.callers import CallerProfile
from callcenter.errors import Forbidden
from callcenter.services.callers import normalised
from callcenter.web.problem import json_response
from callcenter.web.requests import decode_json, path_id, principal
from callcenter.web.state import SERVICES


async def get_caller(request: web.Request) -> web.Response:
    viewer = await principal(request)
    number = path_id(request, "number", max_length=256)
    services = request.app[SERVICES]
    if viewer.kind is RoleKind.AGENT:
        if not await services.calls.agent_may_see_caller(viewer, normalised(number)):
            raise Forbidden("an agent may only read the caller of its own call")
    else:
        require(viewer, RoleKind.SUPERVISOR, RoleKind.GATEWAY)
    return json_response(await services.callers.view(number))


async def put_caller(request: web.Request) -> web.Response:
    require(await principal(request), RoleKind.GATEWAY)
    number = path_id(request, "number", max_length=256)
    profile = await decode_json(request, CallerProfile)
    return json_response(await request.app[SERVICES].callers.upsert_profile(number, profile))


async def delete_caller(request: web.Request) -> web.Response:
    require(await principal(request))
    await request.app[SERVICES].callers.erase(path_id(request, "number", max_length=256))
    return web.Response(status=204)
