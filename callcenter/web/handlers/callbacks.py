"""Callbacks asked for by web forms and CRMs, and their cancelation."""

from __future__ import annotations

from aiohttp import web

from callcenter.services.callbacks import CallbackRequest
from callcenter.web.problem import json_response
from callcenter.web.requests import decode_json, path_id
from callcenter.web.state import SERVICES


async def post_callback(request: web.Request) -> web.Response:
    body = await decode_json(request, CallbackRequest)
    answer = await request.app[SERVICES].callbacks.request(body)
    return json_response(answer, status=200 if answer.duplicate else 201)


async def delete_callback(request: web.Request) -> web.Response:
    call = await request.app[SERVICES].callbacks.cancel(path_id(request, "call_id"))
    return json_response(call)
