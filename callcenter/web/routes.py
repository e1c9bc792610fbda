"""The HTTP API as one table: it registers the routes and feeds the OpenAPI document. The
operations are declared per area in the `routes_*` modules."""

from __future__ import annotations

from aiohttp import web

from callcenter.web.operation import Operation
from callcenter.web.routes_agents import AGENT_OPERATIONS, SERVICE_OPERATIONS
from callcenter.web.routes_callbacks import CALLBACK_OPERATIONS
from callcenter.web.routes_calls import (
    CALL_OPERATIONS,
    CALLER_OPERATIONS,
    EVENT_OPERATIONS,
    QUEUE_OPERATIONS,
    ROUTING_OPERATIONS,
)
from callcenter.web.routes_chat import CHAT_OPERATIONS
from callcenter.web.routes_edge import GATEWAY_OPERATIONS, LIVE_OPERATIONS, MEDIA_OPERATIONS
from callcenter.web.routes_tasks import TASK_OPERATIONS

OPERATIONS: tuple[Operation, ...] = (
    *EVENT_OPERATIONS,
    *AGENT_OPERATIONS,
    *CALL_OPERATIONS,
    *CALLBACK_OPERATIONS,
    *TASK_OPERATIONS,
    *CHAT_OPERATIONS,
    *QUEUE_OPERATIONS,
    *CALLER_OPERATIONS,
    *ROUTING_OPERATIONS,
    *GATEWAY_OPERATIONS,
    *MEDIA_OPERATIONS,
    *LIVE_OPERATIONS,
    *SERVICE_OPERATIONS,
)


def add_routes(app: web.Application) -> None:
    for op in OPERATIONS:
        app.router.add_route(op.method, op.path, op.handler, name=op.operation_id)
