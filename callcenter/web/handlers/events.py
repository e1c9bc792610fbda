"""`POST /v1/events`: canonical events, one object or an array, from a gateway."""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from callcenter.domain.events import AnyCallEvent
from callcenter.errors import CallcenterError, InvalidInput
from callcenter.services.call_events import EventResult
from callcenter.web.middlewares import problem_of
from callcenter.web.problem import Problem, json_response
from callcenter.web.requests import decode, read_body, require_json
from callcenter.web.state import SERVICES, SETTINGS

EventsBody = AnyCallEvent | list[AnyCallEvent]


class BatchItem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One event of a batch: its result, or the problem that rejected it."""

    index: int
    result: EventResult | None = None
    problem: Problem | None = None


class BatchResult(msgspec.Struct, frozen=True, kw_only=True):
    applied: Annotated[int, msgspec.Meta(description="events applied")]
    rejected: int
    items: list[BatchItem]


async def post_events(request: web.Request) -> web.Response:
    body = await read_body(request)
    require_json(request)
    decoded: AnyCallEvent | list[AnyCallEvent] = decode(body, EventsBody)
    service = request.app[SERVICES].events
    if not isinstance(decoded, list):
        return json_response(await service.apply(decoded, dialect="generic"))
    limit = request.app[SETTINGS].max_batch_events
    if not 1 <= len(decoded) <= limit:
        raise InvalidInput(f"a batch holds 1 to {limit} events, not {len(decoded)}")
    items = []
    for index, event in enumerate(decoded):
        try:
            items.append(
                BatchItem(index=index, result=await service.apply(event, dialect="generic"))
            )
        except CallcenterError as error:
            problem, _ = problem_of(error, request.path)
            problem.pointer = f"/{index}{problem.pointer or ''}"
            items.append(BatchItem(index=index, problem=problem))
    rejected = sum(1 for item in items if item.problem is not None)
    result = BatchResult(applied=len(items) - rejected, rejected=rejected, items=items)
    return json_response(result, status=207 if rejected else 200)
