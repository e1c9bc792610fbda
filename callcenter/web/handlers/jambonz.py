"""jambonz call status webhooks (JSON, Jambonz-Signature), mapped onto canonical events."""

from __future__ import annotations

from aiohttp import web

from callcenter.errors import Forbidden, Unauthorized
from callcenter.gateways.jambonz.call_hook import map_call_webhook
from callcenter.gateways.jambonz.signature import SIGNATURE_HEADER, check_jambonz_signature
from callcenter.web.requests import read_body
from callcenter.web.state import CLOCK, METRICS, SERVICES, SETTINGS


async def call_status(request: web.Request) -> web.Response:
    body = await read_body(request)
    secret = request.app[SETTINGS].jambonz_secret.reveal()
    now = request.app[CLOCK].now()
    try:
        if not secret:
            raise Unauthorized("jambonz webhooks need CALLCENTER_JAMBONZ_SECRET")
        header = request.headers.get(SIGNATURE_HEADER)
        check_jambonz_signature(secret, header, body, now.timestamp())
    except Unauthorized as error:
        request.app[METRICS].auth_failures_total.labels("jambonz_signature").inc()
        raise Forbidden(str(error)) from None
    event = map_call_webhook(body, received_at=now)
    if event is not None:
        await request.app[SERVICES].events.apply(event, dialect="jambonz")
    return web.Response(status=204)
