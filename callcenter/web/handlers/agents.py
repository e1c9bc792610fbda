"""`/v1/agents`: registration (name, skills), presence, wrap-up completion."""

from __future__ import annotations

import re
from typing import Annotated

import msgspec
from aiohttp import web

from callcenter.domain.agents import AGENT_ID_PATTERN, Agent, Presence, Proficiency, SkillName
from callcenter.domain.capacity import CapacitySetting
from callcenter.errors import InvalidInput
from callcenter.web.problem import json_response
from callcenter.web.requests import decode_json, path_id
from callcenter.web.state import SERVICES

AGENT_ID_MAX = 64
AGENT_ID = re.compile(AGENT_ID_PATTERN)


class AgentUpsert(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    skills: Annotated[dict[SkillName, Proficiency], msgspec.Meta(max_length=100)] = msgspec.field(
        default_factory=dict
    )
    # most tasks held at once per channel, e.g. {"voice": 1, "chat": 3}; channels left
    # out take the defaults; absent: the agent keeps its current setting
    capacity: CapacitySetting | None = None


class PresenceChange(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    presence: Presence


class AgentList(msgspec.Struct, frozen=True, kw_only=True):
    agents: list[Agent]


def _agent_id(request: web.Request) -> str:
    agent_id = path_id(request, "agent_id", max_length=AGENT_ID_MAX)
    if not AGENT_ID.fullmatch(agent_id):
        raise InvalidInput("agent id may hold letters, digits, '_', '.', '@' and '-'", "/agent_id")
    return agent_id


async def put_agent(request: web.Request) -> web.Response:
    agent_id = _agent_id(request)
    body = await decode_json(request, AgentUpsert)
    agent, created = await request.app[SERVICES].agents.upsert(
        agent_id, body.name, body.skills, capacity=body.capacity
    )
    return json_response(agent, status=201 if created else 200)


async def get_agent(request: web.Request) -> web.Response:
    return json_response(await request.app[SERVICES].agents.get(_agent_id(request)))


async def list_agents(request: web.Request) -> web.Response:
    return json_response(AgentList(agents=await request.app[SERVICES].agents.all()))


async def delete_agent(request: web.Request) -> web.Response:
    await request.app[SERVICES].agents.delete(_agent_id(request))
    return web.Response(status=204)


async def post_presence(request: web.Request) -> web.Response:
    agent_id = _agent_id(request)
    body = await decode_json(request, PresenceChange)
    return json_response(await request.app[SERVICES].agents.set_presence(agent_id, body.presence))


async def post_wrap_up_done(request: web.Request) -> web.Response:
    return json_response(await request.app[SERVICES].agents.finish_wrap_up(_agent_id(request)))
