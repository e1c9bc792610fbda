"""The OpenAPI document and the readable API page that renders it."""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from callcenter.web.openapi import build_openapi
from callcenter.web.page_headers import PAGE_HEADERS
from callcenter.web.problem import json_response
from callcenter.web.state import API_PAGE, DOCS


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(request.app[DOCS])


async def api_page(request: web.Request) -> web.Response:
    return web.Response(text=request.app[API_PAGE], content_type="text/html", headers=PAGE_HEADERS)


def add_docs(app: web.Application) -> None:
    app[DOCS] = build_openapi()
    app[API_PAGE] = resources.files("callcenter.web").joinpath("static", "api.html").read_text()
    app.router.add_get("/v1/openapi.json", openapi_json, name="openapi")
    app.router.add_get("/v1/docs", api_page, name="docs")
    static = resources.files("callcenter.web").joinpath("static")
    app.router.add_static("/static/", str(static), name="static")
