"""Mailgun's inbound route: the form (multipart or urlencoded) read here, attachments left
out, and handed to the service, which checks the signature."""

from __future__ import annotations

from aiohttp import web

from callcenter.web.state import SERVICES


async def inbound(request: web.Request) -> web.Response:
    posted = await request.post()
    form = {name: value for name, value in posted.items() if isinstance(value, str)}
    await request.app[SERVICES].mailgun.receive(form)
    return web.Response(status=204)
