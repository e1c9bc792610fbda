"""`/v1/queues`: every queue's outlook now (waits, callbacks, staffing), or one queue's."""

from __future__ import annotations

import msgspec
from aiohttp import web

from callcenter.domain.queue_outlook import QueueOutlookView
from callcenter.web.problem import json_response
from callcenter.web.requests import path_id
from callcenter.web.state import SERVICES

MAX_QUEUE_NAME = 64


class QueueList(msgspec.Struct, frozen=True, kw_only=True):
    queues: list[QueueOutlookView]


async def list_queues(request: web.Request) -> web.Response:
    queues = await request.app[SERVICES].outlook.queues()
    return json_response(QueueList(queues=queues))


async def get_queue(request: web.Request) -> web.Response:
    name = path_id(request, "queue", max_length=MAX_QUEUE_NAME)
    return json_response(await request.app[SERVICES].outlook.queue(name))
