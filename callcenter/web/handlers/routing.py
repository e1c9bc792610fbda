"""Routing endpoints: answer offers, explain a call's routing, reload the rules."""

from __future__ import annotations

import msgspec
from aiohttp import web

from callcenter.domain.transcripts import TranscriptEntry
from callcenter.web.problem import json_response
from callcenter.web.requests import path_id
from callcenter.web.state import SERVICES, TRANSCRIPTS


class RulesReloaded(msgspec.Struct, frozen=True):
    version: str


async def _answer(request: web.Request, *, accepted: bool) -> web.Response:
    reservation_id = path_id(request, "reservation_id", max_length=64)
    call = await request.app[SERVICES].routing.answer_offer(reservation_id, accepted=accepted)
    return json_response(call)


async def accept_reservation(request: web.Request) -> web.Response:
    return await _answer(request, accepted=True)


async def reject_reservation(request: web.Request) -> web.Response:
    return await _answer(request, accepted=False)


async def call_routing(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    call = await services.calls.get(path_id(request, "call_id"))
    return json_response(await services.routing.explain(call))


class Transcript(msgspec.Struct, frozen=True):
    call_id: str
    utterances: list[TranscriptEntry]


async def call_transcript(request: web.Request) -> web.Response:
    call = await request.app[SERVICES].calls.get(path_id(request, "call_id"))
    return json_response(Transcript(call.id, await request.app[TRANSCRIPTS].read(call.id)))


async def reload_rules(request: web.Request) -> web.Response:
    version = await request.app[SERVICES].routing.reload_rules()
    return json_response(RulesReloaded(version))
