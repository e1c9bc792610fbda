"""jambonz webhooks (JSON, Jambonz-Signature): call status webhooks mapped onto canonical
events (services.jambonz_hooks), and the live call control hooks that answer jambonz verbs
(services.jambonz_control): the dial to the accepting agent, its outcome, the hold."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from aiohttp import web

from callcenter.services.jambonz_control import CALL_PARAMETER, HookUrls
from callcenter.web.handlers.twilio import public_url
from callcenter.web.requests import read_body
from callcenter.web.state import SERVICES

AGENT_DIAL_PATH = "/gateways/jambonz/agent-dial"
DIAL_ACTION_PATH = "/gateways/jambonz/dial-action"
HOLD_PATH = "/gateways/jambonz/hold"

# what the control hooks answer, for the OpenAPI document
JambonzVerbs = Annotated[
    list[dict[str, Any]],
    msgspec.Meta(
        title="JambonzVerbs",
        description="jambonz verbs (objects with a `verb`: tag, dial, play, answer, pause, "
        "redirect, hangup) for the call to run next",
    ),
]


async def call_status(request: web.Request) -> web.Response:
    body = await read_body(request)
    await request.app[SERVICES].jambonz.call_status(request.headers, body)
    return web.Response(status=204)


def _urls(request: web.Request) -> HookUrls:
    return HookUrls(
        dial_action=str(public_url(request, DIAL_ACTION_PATH)),
        hold=str(public_url(request, HOLD_PATH)),
    )


async def agent_dial(request: web.Request) -> web.Response:
    """The call hook of a call redirected when an agent accepted it."""
    body = await read_body(request)
    verbs = await request.app[SERVICES].jambonz_control.agent_dial(
        request.headers, body, request.query.get(CALL_PARAMETER), _urls(request)
    )
    return web.json_response(verbs)


async def dial_action(request: web.Request) -> web.Response:
    """The actionHook of the dial to the agent: how it ended."""
    body = await read_body(request)
    verbs = await request.app[SERVICES].jambonz_control.dial_action(
        request.headers, body, request.query.get(CALL_PARAMETER), _urls(request)
    )
    return web.json_response(verbs)


async def hold(request: web.Request) -> web.Response:
    """The hold loop's next turn (and, without ?call=, the application's calling webhook)."""
    body = await read_body(request)
    verbs = await request.app[SERVICES].jambonz_control.hold(
        request.headers, body, request.query.get(CALL_PARAMETER), _urls(request)
    )
    return web.json_response(verbs)
