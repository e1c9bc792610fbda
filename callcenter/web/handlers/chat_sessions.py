"""A customer opens a web chat (`POST /v1/chat/sessions`, callable from any site: the
widget runs on the customer's pages, so the answer allows any origin), and the widget's
files (`/chat/widget.js`, `/chat/widget.css`) any site may load."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from aiohttp import web

from callcenter.errors import InvalidInput, TooManyRequests
from callcenter.services.chat_sessions import ChatStart
from callcenter.web.authorization import OPERATION
from callcenter.web.page_headers import PAGE_HEADERS
from callcenter.web.problem import json_response
from callcenter.web.requests import decode_json
from callcenter.web.state import CHAT_FILES, METRICS, SERVICES

# the operations a page of another origin may call (no credentials: a session is open to all)
CROSS_ORIGIN = frozenset({"createChatSession", "chatSessionPreflight"})
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "POST",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}
WIDGET_MEDIA_TYPES = {"widget.js": "text/javascript", "widget.css": "text/css"}
# a script and a style sheet for other sites: no page policy (CSP, framing) applies to them
WIDGET_HEADERS = {
    "Cache-Control": PAGE_HEADERS["Cache-Control"],  # revalidated (ETag): updates show at once
    "X-Content-Type-Options": PAGE_HEADERS["X-Content-Type-Options"],
    "Cross-Origin-Resource-Policy": "cross-origin",
}


@dataclass(frozen=True, slots=True)
class WidgetFile:
    text: str
    media_type: str
    etag: str


def setup_chat(app: web.Application) -> None:
    """Read the widget's files once, and let other origins call the chat session route."""
    folder = resources.files("callcenter.web").joinpath("static", "chat")
    files = {}
    for name, media_type in WIDGET_MEDIA_TYPES.items():
        text = folder.joinpath(name).read_text()
        etag = '"' + hashlib.sha256(text.encode()).hexdigest()[:20] + '"'
        files[name] = WidgetFile(text, media_type, etag)
    app[CHAT_FILES] = files
    app.on_response_prepare.append(_allow_any_origin)


async def _allow_any_origin(request: web.Request, response: web.StreamResponse) -> None:
    operation = request.get(OPERATION)
    if operation is not None and operation.operation_id in CROSS_ORIGIN:
        response.headers["Access-Control-Allow-Origin"] = "*"


async def post_session(request: web.Request) -> web.Response:
    """A new chat and its session token; refusals counted by reason."""
    rejected = request.app[METRICS].chat_rejections_total
    try:
        start = await decode_json(request, ChatStart)
        session = await request.app[SERVICES].chat.start(start, address=request.remote or "unknown")
    except InvalidInput:
        rejected.labels("bad_start").inc()
        raise
    except TooManyRequests:
        rejected.labels("too_many_chats").inc()
        raise
    return json_response(session, status=201)


async def session_preflight(request: web.Request) -> web.Response:
    """The browser asks whether another origin's page may post a JSON body here."""
    return web.Response(status=204, headers=PREFLIGHT_HEADERS)


async def widget_script(request: web.Request) -> web.Response:
    return _widget_file(request, "widget.js")


async def widget_style(request: web.Request) -> web.Response:
    return _widget_file(request, "widget.css")


def _widget_file(request: web.Request, name: str) -> web.Response:
    found = request.app[CHAT_FILES][name]
    headers = {**WIDGET_HEADERS, "ETag": found.etag}
    if request.headers.get("If-None-Match") == found.etag:
        return web.Response(status=304, headers=headers)
    return web.Response(
        text=found.text, content_type=found.media_type, charset="utf-8", headers=headers
    )
