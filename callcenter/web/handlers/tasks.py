"""`/v1/tasks`: text conversations (chat, SMS, email) through the generic API: open one,
write in it (as the customer from a gateway's token, as the agent from an agent's),
read it, resolve it."""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from callcenter.domain.calls import Call
from callcenter.domain.messages import Message
from callcenter.domain.routing import Decision
from callcenter.errors import Forbidden
from callcenter.services.tasks import TaskRequest
from callcenter.web.authorization import caller
from callcenter.web.problem import json_response
from callcenter.web.requests import decode_json, path_id
from callcenter.web.state import SERVICES

TASK_ID_MAX = 64


class TaskCreated(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    task_id: str
    channel: str
    queue: str
    state: str
    # a chat's session token: the customer's window resumes it on /ws/chat
    chat_token: str | None = None


class MessageBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    body: Annotated[str, msgspec.Meta(max_length=4000)]


class Resolution(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    disposition: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    notes: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class TaskView(msgspec.Struct, frozen=True, kw_only=True):
    task: Call
    messages: list[Message]
    decision: Decision | None = None  # why it went to its agent (once offered)


class MessageList(msgspec.Struct, frozen=True, kw_only=True):
    messages: list[Message]


def _task_id(request: web.Request) -> str:
    return path_id(request, "task_id", max_length=TASK_ID_MAX)


async def post_task(request: web.Request) -> web.Response:
    body = await decode_json(request, TaskRequest)
    services = request.app[SERVICES]
    task = await services.tasks.create(body)
    token = services.chat.session_for(task.id).token if body.channel == "chat" else None
    created = TaskCreated(
        task_id=task.id,
        channel=str(task.channel),
        queue=task.queue,
        state=str(task.state),
        chat_token=token,
    )
    return json_response(created, status=201)


async def get_task(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    task_id = _task_id(request)
    task = await services.tasks.get(task_id)
    view = TaskView(
        task=task,
        messages=await services.tasks.messages(task_id),
        decision=await services.live.decision_of(task_id) if task.agent_id else None,
    )
    return json_response(view)


async def list_messages(request: web.Request) -> web.Response:
    messages = await request.app[SERVICES].tasks.messages(_task_id(request))
    return json_response(MessageList(messages=messages))


async def post_message(request: web.Request) -> web.Response:
    """An agent's token replies as that agent; a gateway's or admin's writes as the
    customer."""
    task_id = _task_id(request)
    body = await decode_json(request, MessageBody)
    tasks = request.app[SERVICES].tasks
    agent_id = caller(request).agent_id
    if agent_id is not None:
        message = await tasks.reply(task_id, agent_id, body.body)
    else:
        message = await tasks.customer_message(task_id, body.body)
    return json_response(message, status=201)


async def post_resolve(request: web.Request) -> web.Response:
    task_id = _task_id(request)
    body = await decode_json(request, Resolution)
    task = await request.app[SERVICES].tasks.resolve(
        task_id,
        agent_id=caller(request).agent_id,
        disposition=body.disposition,
        notes=body.notes,
    )
    return json_response(task)


async def post_typing(request: web.Request) -> web.Response:
    """The agent is typing in its chat (throttled to one event a second)."""
    agent_id = caller(request).agent_id
    if agent_id is None:
        raise Forbidden("only the chat's agent types in it")
    await request.app[SERVICES].chat.agent_typing(_task_id(request), agent_id)
    return web.Response(status=204)
