"""The live pages: `/wallboard` and `/agent` (static HTML), the entry points of their
websockets (the protocol is in `live_socket`), and the supervisor's alert endpoints."""

from __future__ import annotations

import weakref
from importlib import resources

import msgspec
from aiohttp import WSCloseCode, web

from callcenter.errors import NotFound
from callcenter.services.live_views import AlertView
from callcenter.web.authorization import caller
from callcenter.web.handlers.live_socket import LiveSocket
from callcenter.web.page_headers import PAGE_HEADERS
from callcenter.web.problem import json_response
from callcenter.web.requests import path_id
from callcenter.web.state import LIVE_SOCKETS, PAGES, SERVICES

__all__ = [
    "agent_page",
    "agent_socket",
    "chat_page",
    "setup_live",
    "wallboard_page",
    "wallboard_socket",
]


def setup_live(app: web.Application) -> None:
    """The pages' HTML, and closing the live sockets with 1001 on shutdown."""
    static = resources.files("callcenter.web").joinpath("static")
    app[PAGES] = {
        name: static.joinpath(f"{name}.html").read_text()
        for name in ("wallboard", "agent", "chat")
        if static.joinpath(f"{name}.html").is_file()
    }
    app[LIVE_SOCKETS] = weakref.WeakSet()

    async def going_away(app: web.Application) -> None:
        sockets: weakref.WeakSet[web.WebSocketResponse] = app[LIVE_SOCKETS]
        for socket in list(sockets):
            await socket.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")

    app.on_shutdown.append(going_away)


async def wallboard_page(request: web.Request) -> web.Response:
    return _page(request, "wallboard")


async def agent_page(request: web.Request) -> web.Response:
    return _page(request, "agent")


async def chat_page(request: web.Request) -> web.Response:
    return _page(request, "chat")


def _page(request: web.Request, name: str) -> web.Response:
    page = request.app[PAGES].get(name)
    if page is None:
        raise NotFound("page", name)
    return web.Response(
        text=page,
        content_type="text/html",
        headers=PAGE_HEADERS,
    )


class Alerts(msgspec.Struct, frozen=True):
    alerts: list[AlertView]


async def list_alerts(request: web.Request) -> web.Response:
    return json_response(Alerts(await request.app[SERVICES].live.alerts(100)))


async def acknowledge_alert(request: web.Request) -> web.Response:
    ack = await request.app[SERVICES].live.acknowledge(
        path_id(request, "alert_id", max_length=64), caller(request).role
    )
    return json_response(ack)


async def wallboard_socket(request: web.Request) -> web.WebSocketResponse:
    return await LiveSocket(request, wallboard=True).run()


async def agent_socket(request: web.Request) -> web.WebSocketResponse:
    return await LiveSocket(request, wallboard=False).run()
