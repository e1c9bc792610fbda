"""The HTTP API as one table: it registers the routes and feeds the OpenAPI document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from callcenter.domain.agents import Agent
from callcenter.domain.alerts import Ack
from callcenter.domain.callers import CallerProfile, CallerView
from callcenter.domain.calls import Call
from callcenter.services.call_events import EventResult
from callcenter.services.routing import RoutingExplanation
from callcenter.web.handlers import (
    agents,
    callers,
    calls,
    events,
    health,
    jambonz,
    live,
    media,
    routing,
    tokens,
    twilio,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ADMIN = "admin"
SUPERVISOR = "supervisor"
GATEWAY = "gateway"
SELF = "agent:<self>"
OPEN = "none"
TWILIO_SIGNED = "signed: X-Twilio-Signature"
JAMBONZ_SIGNED = "signed: Jambonz-Signature"


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    name: str
    where: str  # "path" | "query"
    description: str
    schema: dict[str, Any]
    required: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    method: str
    path: str
    handler: Handler
    operation_id: str
    tag: str
    summary: str
    roles: tuple[str, ...]
    description: str = ""
    request: Any = None
    responses: tuple[tuple[int, Any, str], ...] = ()
    params: tuple[Param, ...] = ()


def _path(name: str, description: str, pattern: str | None = None) -> Param:
    schema: dict[str, Any] = {"type": "string", "minLength": 1}
    if pattern:
        schema["pattern"] = pattern
    return Param(name=name, where="path", description=description, schema=schema)


AGENT = _path("agent_id", "Agent id", r"^[A-Za-z0-9_.@-]{1,64}$")
CALL = _path("call_id", "Call id (the gateway's)")
RESERVATION = _path("reservation_id", "Reservation id (from the offer)")
NUMBER = _path("number", "Caller number (normalised to E.164 when it is a phone number)")

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        method="POST",
        path="/v1/events",
        handler=events.post_events,
        operation_id="postEvents",
        tag="Events",
        summary="Deliver canonical call events (one object or an array)",
        roles=(GATEWAY, ADMIN),
        description=(
            "Idempotent by event_id within the dedupe window; late or repeated events never "
            "move a call backwards (result `stale`/`duplicate`). Authenticate with a gateway "
            "token or, when a webhook secret is set, with X-Callcenter-Timestamp and "
            "X-Callcenter-Signature: v1=hex(HMAC-SHA256(secret, timestamp + '.' + body)). "
            "An array is applied in order; each event is atomic; the answer lists every "
            "event's result and is 207 if any was rejected."
        ),
        request=events.EventsBody,
        responses=(
            (
                200,
                (EventResult, events.BatchResult),
                "Applied, stale or duplicate: an EventResult "
                "for one event, a BatchResult for an array",
            ),
            (207, events.BatchResult, "Some events of the batch were rejected"),
        ),
    ),
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
    Operation(
        method="GET",
        path="/v1/calls",
        handler=calls.list_calls,
        operation_id="listCalls",
        tag="Calls",
        summary="List calls by state, most recently changed first",
        roles=(SUPERVISOR, GATEWAY, ADMIN),
        params=(
            Param(
                name="state",
                where="query",
                required=False,
                description="active (default: every state before wrap-up) or one state",
                schema={
                    "enum": [
                        "active",
                        "created",
                        "queued",
                        "offered",
                        "connected",
                        "wrap_up",
                        "ended",
                    ]
                },
            ),
            Param(
                name="limit",
                where="query",
                required=False,
                description="At most this many",
                schema={
                    "type": "integer",
                    "minimum": 1,
                    "maximum": calls.MAX_LIMIT,
                    "default": calls.DEFAULT_LIMIT,
                },
            ),
        ),
        responses=((200, calls.CallList, "Calls"),),
    ),
    Operation(
        method="POST",
        path="/v1/calls/{call_id}/wrap-up",
        handler=calls.wrap_up_call,
        operation_id="wrapUpCall",
        tag="Calls",
        summary="The agent's wrap-up of a finished call (disposition, notes) into the "
        "caller's history",
        roles=(SELF, SUPERVISOR, ADMIN),
        description="An agent may wrap up only a call it held; 409 until the call has ended.",
        request=calls.WrapUp,
        params=(CALL,),
        responses=((200, calls.WrappedUp, "Kept"),),
    ),
    Operation(
        method="GET",
        path="/v1/calls/{call_id}",
        handler=calls.get_call,
        operation_id="getCall",
        tag="Calls",
        summary="Read one call",
        roles=(SUPERVISOR, GATEWAY, ADMIN, SELF),
        description="An agent may read only a call it holds.",
        params=(CALL,),
        responses=((200, Call, "The call"),),
    ),
    Operation(
        method="GET",
        path="/v1/callers/{number}",
        handler=callers.get_caller,
        operation_id="getCaller",
        tag="Callers",
        summary="Read a caller's profile and history",
        roles=(SUPERVISOR, GATEWAY, ADMIN, SELF),
        description="An agent may read only the caller of the call it holds.",
        params=(NUMBER,),
        responses=((200, CallerView, "Profile, history and repeat-caller flag"),),
    ),
    Operation(
        method="PUT",
        path="/v1/callers/{number}",
        handler=callers.put_caller,
        operation_id="putCaller",
        tag="Callers",
        summary="Create or replace a caller's CRM profile (name, tier, tags, account fields)",
        roles=(GATEWAY, ADMIN),
        params=(NUMBER,),
        request=CallerProfile,
        responses=((200, CallerView, "The caller"),),
    ),
    Operation(
        method="DELETE",
        path="/v1/callers/{number}",
        handler=callers.delete_caller,
        operation_id="deleteCaller",
        tag="Callers",
        summary="Erase everything stored about a caller",
        roles=(ADMIN,),
        params=(NUMBER,),
        responses=((204, None, "Erased"),),
    ),
    Operation(
        method="POST",
        path="/v1/reservations/{reservation_id}/accept",
        handler=routing.accept_reservation,
        operation_id="acceptReservation",
        tag="Routing",
        summary="Accept an offer: the call connects to the agent",
        roles=(SELF, SUPERVISOR, ADMIN),
        description="Only the agent the call was offered to (or a supervisor) may answer.",
        params=(RESERVATION,),
        responses=((200, Call, "The connected call"),),
    ),
    Operation(
        method="POST",
        path="/v1/reservations/{reservation_id}/reject",
        handler=routing.reject_reservation,
        operation_id="rejectReservation",
        tag="Routing",
        summary="Reject an offer: the call keeps its place and goes to someone else",
        roles=(SELF, SUPERVISOR, ADMIN),
        params=(RESERVATION,),
        responses=((200, Call, "The call, waiting again"),),
    ),
    Operation(
        method="GET",
        path="/v1/calls/{call_id}/routing",
        handler=routing.call_routing,
        operation_id="getCallRouting",
        tag="Routing",
        summary="Why a call is where it is: rule, step, ready agents' verdicts, last decision",
        roles=(SUPERVISOR, GATEWAY, ADMIN, SELF),
        params=(CALL,),
        responses=((200, RoutingExplanation, "The explanation"),),
    ),
    Operation(
        method="GET",
        path="/v1/calls/{call_id}/transcript",
        handler=routing.call_transcript,
        operation_id="getCallTranscript",
        tag="Calls",
        summary="The call's final utterances, each with speaker, timings and sentiment",
        roles=(SUPERVISOR, GATEWAY, ADMIN, SELF),
        description="An agent may read only the transcript of a call it holds.",
        params=(CALL,),
        responses=((200, routing.Transcript, "The transcript so far"),),
    ),
    Operation(
        method="POST",
        path="/v1/admin/rules/reload",
        handler=routing.reload_rules,
        operation_id="reloadRules",
        tag="Routing",
        summary="Reload the routing rules; waiting calls are re-evaluated",
        roles=(SUPERVISOR, ADMIN),
        description="Invalid files answer 422 naming each problem; the old rules stay.",
        responses=((200, routing.RulesReloaded, "The version now in force"),),
    ),
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
        method="POST",
        path="/gateways/twilio/voice",
        handler=twilio.voice,
        operation_id="twilioVoice",
        tag="Gateways",
        summary="Twilio voice webhook: records the call, answers TwiML that streams its "
        "audio here and holds the caller",
        roles=(TWILIO_SIGNED,),
        responses=((200, str, "TwiML"),),
    ),
    Operation(
        method="POST",
        path="/gateways/twilio/status",
        handler=twilio.status,
        operation_id="twilioStatus",
        tag="Gateways",
        summary="Twilio status callback (CallStatus) as a canonical event",
        roles=(TWILIO_SIGNED,),
        responses=((204, None, "Taken"),),
    ),
    Operation(
        method="POST",
        path="/gateways/twilio/hold",
        handler=twilio.hold,
        operation_id="twilioHold",
        tag="Gateways",
        summary="Twilio <Redirect> target that keeps a long hold going",
        roles=(TWILIO_SIGNED,),
        responses=((200, str, "TwiML"),),
    ),
    Operation(
        method="POST",
        path="/gateways/twilio/gather/{step}",
        handler=twilio.gather,
        operation_id="twilioGather",
        tag="Gateways",
        summary="Twilio <Gather> action: the digits become call.dtmf",
        roles=(TWILIO_SIGNED,),
        params=(_path("step", "Which prompt gathered the digits", r"^[A-Za-z0-9_.-]{1,32}$"),),
        responses=((200, str, "TwiML"),),
    ),
    Operation(
        method="POST",
        path="/gateways/jambonz/status",
        handler=jambonz.call_status,
        operation_id="jambonzStatus",
        tag="Gateways",
        summary="jambonz call status webhook as a canonical event",
        roles=(JAMBONZ_SIGNED,),
        responses=((204, None, "Taken"),),
    ),
    Operation(
        method="GET",
        path="/media/twilio",
        handler=media.twilio_stream,
        operation_id="twilioMediaStream",
        tag="Media",
        summary="Websocket: Twilio Media Streams (mu-law 8 kHz, JSON messages)",
        roles=(TWILIO_SIGNED,),
        description="The call is named by the TwiML this service answered; bad messages "
        "close the socket with 1008 and a reason.",
        responses=((101, None, "Switching protocols"),),
    ),
    Operation(
        method="GET",
        path="/media/l16",
        handler=media.l16_stream,
        operation_id="l16MediaStream",
        tag="Media",
        summary="Websocket: L16 PCM after a JSON metadata text frame (mod_audio_fork, "
        "jambonz listen, Vonage, generic)",
        roles=(GATEWAY, ADMIN),
        description="A gateway token as `Authorization: Bearer` or, where the media server "
        "cannot set headers, as `?token=`.",
        responses=((101, None, "Switching protocols"),),
    ),
    Operation(
        method="GET",
        path="/v1/alerts",
        handler=live.list_alerts,
        operation_id="listAlerts",
        tag="Live",
        summary="The latest alerts on live calls, newest first, with acknowledgements",
        roles=(SUPERVISOR, ADMIN),
        responses=((200, live.Alerts, "Alerts"),),
    ),
    Operation(
        method="POST",
        path="/v1/alerts/{alert_id}/ack",
        handler=live.acknowledge_alert,
        operation_id="acknowledgeAlert",
        tag="Live",
        summary="Acknowledge an alert; every wallboard hears of it",
        roles=(SUPERVISOR, ADMIN),
        params=(_path("alert_id", "Alert id"),),
        responses=((200, Ack, "The acknowledgement (the first one, if acknowledged before)"),),
    ),
    Operation(
        method="GET",
        path="/wallboard",
        handler=live.wallboard_page,
        operation_id="wallboardPage",
        tag="Live",
        summary="The supervisor wallboard (HTML; it asks for a supervisor token)",
        roles=(OPEN,),
        responses=((200, str, "The page"),),
    ),
    Operation(
        method="GET",
        path="/agent",
        handler=live.agent_page,
        operation_id="agentPage",
        tag="Live",
        summary="The agent desktop (HTML; it asks for an agent token)",
        roles=(OPEN,),
        responses=((200, str, "The page"),),
    ),
    Operation(
        method="GET",
        path="/ws/wallboard",
        handler=live.wallboard_socket,
        operation_id="wallboardSocket",
        tag="Live",
        summary="Websocket: snapshot then live events for wallboards",
        roles=(SUPERVISOR, ADMIN),
        description="The first message authenticates: "
        '`{"type": "auth", "token": "...", "since": N|null}`.',
        responses=((101, None, "Switching protocols"),),
    ),
    Operation(
        method="GET",
        path="/ws/agent",
        handler=live.agent_socket,
        operation_id="agentSocket",
        tag="Live",
        summary="Websocket: the agent's offers (screen pops), calls, transcript and mood",
        roles=(SELF,),
        description="The first message authenticates: "
        '`{"type": "auth", "token": "...", "since": N|null}`.',
        responses=((101, None, "Switching protocols"),),
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
        responses=((200, health.Health, "Ready"),),
    ),
    Operation(
        method="GET",
        path="/metrics",
        handler=health.metrics,
        operation_id="metrics",
        tag="Operations",
        summary="Prometheus exposition (text format)",
        roles=(OPEN,),
        responses=((200, str, "Metrics"),),
    ),
)


def add_routes(app: web.Application) -> None:
    for op in OPERATIONS:
        app.router.add_route(op.method, op.path, op.handler, name=op.operation_id)
