"""`/v1/callers/{number}`: CRM profile upsert, history read, erasure."""

from __future__ import annotations

from aiohttp import web

from callcenter.domain.callers import CallerProfile
from callcenter.web.problem import json_response
from callcenter.web.requests import decode_json, path_id
from callcenter.web.state import SERVICES


async def get_caller(request: web.Request) -> web.Response:
    number = path_id(request, "number", max_length=256)
    return json_response(await request.app[SERVICES].callers.view(number))


async def put_caller(request: web.Request) -> web.Response:
    number = path_id(request, "number", max_length=256)
    profile = await decode_json(request, CallerProfile)
    return json_response(await request.app[SERVICES].callers.upsert_profile(number, profile))


async def delete_caller(request: web.Request) -> web.Response:
    await request.app[SERVICES].callers.erase(path_id(request, "number", max_length=256))
    return web.Response(status=204)
