"""The route table's call side: canonical events in, calls, queues, callers, offers and
routing."""

from __future__ import annotations

from typing import Annotated

import msgspec

from callcenter.domain.callers import CallerProfile, CallerView
from callcenter.domain.calls import Call
from callcenter.domain.events import AnyCallEvent
from callcenter.domain.queue_outlook import QueueOutlookView
from callcenter.services.call_events import EventResult
from callcenter.services.routing import RoutingExplanation
from callcenter.web.handlers import callers, calls, events, queues, routing
from callcenter.web.operation import (
    ADMIN,
    CALL,
    GATEWAY,
    NUMBER,
    RESERVATION,
    SELF,
    SUPERVISOR,
    Credentials,
    Operation,
    Param,
    path_param,
)
from callcenter.web.problem import Problem

# What POST /v1/events documents. The handler decodes `events.EventsBody` and refuses an
# empty batch itself (422), so the array's lower bound is stated here for the document.
DOCUMENTED_EVENTS_BODY = AnyCallEvent | Annotated[list[AnyCallEvent], msgspec.Meta(min_length=1)]

EVENT_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        method="POST",
        path="/v1/events",
        handler=events.post_events,
        operation_id="postEvents",
        tag="Events",
        summary="Deliver canonical call events (one object or an array)",
        roles=(GATEWAY, ADMIN),
        credentials=Credentials.BEARER_OR_SIGNATURE,
        description=(
            "Idempotent by event_id within the dedupe window; late or repeated events never "
            "move a call backwards (result `stale`/`duplicate`). Authenticate with a gateway "
            "token or, when a webhook secret is set, with X-Callcenter-Timestamp and "
            "X-Callcenter-Signature: v1=hex(HMAC-SHA256(secret, timestamp + '.' + body)). "
            "An array is applied in order and holds 1 to `max_batch_events` (500 by default) "
            "events; each event is atomic; the answer lists every event's result and is 207 "
            "if any was rejected. An `occurred_at` older than the dedupe window (24 h) is "
            "refused (422) as a replay."
        ),
        request=DOCUMENTED_EVENTS_BODY,
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
)

CALL_OPERATIONS: tuple[Operation, ...] = (
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
        description="An agent may wrap up only a call it held. 409 until the call has ended, "
        "and for a call without a caller number (it has no caller history).",
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
        summary="Read one call (a queued one with its estimated wait)",
        roles=(SUPERVISOR, GATEWAY, ADMIN, SELF),
        description="An agent may read only a call it holds. `estimated_wait_seconds`: for "
        "a queued call, the seconds it should still wait by its place in line (README, "
        '"Estimated wait"); null for any other call or when it cannot be told.',
        params=(CALL,),
        responses=((200, calls.CallDetail, "The call"),),
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
)

QUEUE = path_param(
    "queue",
    "Queue name",
    max_length=queues.MAX_QUEUE_NAME,
    pattern=r"^[A-Za-z0-9_.-]+(?!\n)$",
)
_OUTLOOK = (
    "Per queue: callers and callbacks waiting (with the oldest callback's wait), the "
    "estimated wait of a caller arriving now, arrivals per minute and the service level "
    "(last 15 minutes), the mean handle time (talk + wrap-up, last hour), agents staffed "
    "and ready, and the agents Erlang C says the queue needs to meet its service-level "
    'target, with the gap (README, "Estimated wait" and "Live staffing").'
)

QUEUE_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        method="GET",
        path="/v1/queues",
        handler=queues.list_queues,
        operation_id="listQueues",
        tag="Queues",
        summary="Every queue's outlook now: waits, callbacks and staffing",
        roles=(SUPERVISOR, ADMIN),
        description=_OUTLOOK
        + " Queues: the configured ones and any other a call waits in or had traffic in the "
        "last hour.",
        responses=((200, queues.QueueList, "Every queue, by name"),),
    ),
    Operation(
        method="GET",
        path="/v1/queues/{queue}",
        handler=queues.get_queue,
        operation_id="getQueue",
        tag="Queues",
        summary="One queue's outlook now: waits, callbacks and staffing",
        roles=(SUPERVISOR, ADMIN),
        description=_OUTLOOK
        + " 404 for a queue that is not configured and had no call in the last hour.",
        params=(QUEUE,),
        responses=((200, QueueOutlookView, "The queue"),),
    ),
)

CALLER_OPERATIONS: tuple[Operation, ...] = (
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
)

ROUTING_OPERATIONS: tuple[Operation, ...] = (
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
        method="POST",
        path="/v1/admin/rules/reload",
        handler=routing.reload_rules,
        operation_id="reloadRules",
        tag="Routing",
        summary="Reload the routing rules; waiting calls are re-evaluated",
        roles=(SUPERVISOR, ADMIN),
        description="Invalid files answer 422 naming each problem; the old rules stay.",
        responses=(
            (200, routing.RulesReloaded, "The version now in force"),
            (422, Problem, "The rule files are invalid; the rules in force stay"),
        ),
    ),
)
