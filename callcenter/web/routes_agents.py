"""The route table's people and operations side: agents, API tokens, health and metrics."""

from __future__ import annotations

from callcenter.domain.agents import Agent
from callcenter.web.handlers import agents, health, tokens
from callcenter.web.operation import (
    ADMIN,
    AGENT,
    OPEN,
    PLAIN,
    SELF,
    SUPERVISOR,
    Operation,
)
from callcenter.web.problem import Problem

AGENT_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        method="GET",
        path="/v1/agents",
        handler=agents.list_agents,
        operation_id="listAgents",
        tag="Agents",
        summary="List agents",
        roles=(SUPERVISOR, ADMIN),
        responses=((200, agents.AgentList, "All agents"),),
    ),
    Operation(
        method="GET",
        path="/v1/agents/{agent_id}",
        handler=agents.get_agent,
        operation_id="getAgent",
        tag="Agents",
        summary="Read one agent",
        roles=(SELF, SUPERVISOR, ADMIN),
        params=(AGENT,),
        responses=((200, Agent, "The agent"),),
    ),
    Operation(
        method="PUT",
        path="/v1/agents/{agent_id}",
        handler=agents.put_agent,
        operation_id="putAgent",
        tag="Agents",
        summary="Create or update an agent's name and skills",
        roles=(SUPERVISOR, ADMIN),
        params=(AGENT,),
        request=agents.AgentUpsert,
        responses=((200, Agent, "Updated"), (201, Agent, "Created")),
    ),
    Operation(
        method="DELETE",
        path="/v1/agents/{agent_id}",
        handler=agents.delete_agent,
        operation_id="deleteAgent",
        tag="Agents",
        summary="Remove an agent that holds no call",
        roles=(ADMIN,),
        params=(AGENT,),
        responses=((204, None, "Removed"),),
    ),
    Operation(
        method="POST",
        path="/v1/agents/{agent_id}/presence",
        handler=agents.post_presence,
        operation_id="setPresence",
        tag="Agents",
        summary="Set presence (offline, available, away, break)",
        roles=(SELF, SUPERVISOR, ADMIN),
        params=(AGENT,),
        request=agents.PresenceChange,
        responses=((200, Agent, "The agent with its new presence"),),
    ),
    Operation(
        method="POST",
        path="/v1/agents/{agent_id}/wrap-up/done",
        handler=agents.post_wrap_up_done,
        operation_id="finishWrapUp",
        tag="Agents",
        summary="End the agent's wrap-up: the agent becomes idle and its call ends",
        roles=(SELF, SUPERVISOR, ADMIN),
        params=(AGENT,),
        responses=((200, Agent, "The idle agent"),),
    ),
)

SERVICE_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        method="POST",
        path="/v1/admin/tokens",
        handler=tokens.create_token,
        operation_id="createToken",
        tag="Operations",
        summary="Issue an API token (admin | supervisor | gateway | agent:<id>)",
        roles=(ADMIN,),
        description="The token is in this answer only; the server keeps its SHA-256 digest.",
        request=tokens.TokenRequest,
        responses=((201, tokens.IssuedToken, "The new token"),),
    ),
    Operation(
        method="GET",
        path="/healthz",
        handler=health.healthz,
        operation_id="healthz",
        tag="Operations",
        summary="Liveness: the process answers",
        roles=(OPEN,),
        responses=((200, health.Health, "Alive"),),
    ),
    Operation(
        method="GET",
        path="/readyz",
        handler=health.readyz,
        operation_id="readyz",
        tag="Operations",
        summary="Readiness: Redis answers",
        roles=(OPEN,),
        responses=(
            (200, health.Health, "Ready"),
            (503, Problem, "Not ready: Redis is not reachable (with Retry-After)"),
        ),
    ),
    Operation(
        method="GET",
        path="/metrics",
        handler=health.metrics,
        operation_id="metrics",
        tag="Operations",
        summary="Prometheus exposition (text format)",
        roles=(OPEN,),
        responses=((200, PLAIN, "Metrics"),),
    ),
)
