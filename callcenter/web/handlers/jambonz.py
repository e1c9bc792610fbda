"""jambonz call status webhooks (JSON, Jambonz-Signature), mapped onto canonical events
(services.jambonz_hooks)."""

from __future__ import annotations

from aiohttp import web

from callcenter.web.requests import read_body
from callcenter.web.state import SERVICES


async def call_status(request: web.Request) -> web.Response:
    body = await read_body(request)
    await request.app[SERVICES].jambonz.call_status(request.headers, body)
    return web.Response(status=204)
