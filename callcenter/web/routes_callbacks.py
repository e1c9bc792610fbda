"""The route table's callbacks: ask for one, cancel one."""

from __future__ import annotations

from callcenter.domain.calls import Call
from callcenter.services.callbacks import CallbackAnswer, CallbackRequest
from callcenter.web.handlers import callbacks
from callcenter.web.operation import ADMIN, CALL, GATEWAY, SUPERVISOR, Operation
from callcenter.web.problem import Problem

CALLBACK_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        method="POST",
        path="/v1/callbacks",
        handler=callbacks.post_callback,
        operation_id="requestCallback",
        tag="Callbacks",
        summary="Call a customer back when an agent is free (a web form, a CRM)",
        roles=(GATEWAY, SUPERVISOR, ADMIN),
        description=(
            "The callback waits in line like a call (`GET /v1/calls/{call_id}`), from now "
            "or from `not_before` (a scheduled callback, at most 30 days ahead). The queue "
            "is `queue`, else what the routing rules choose on `attributes`. A repeated "
            "request for the same number and queue while the first is not over answers "
            "200 with that one (`duplicate: true`) instead of making a second."
        ),
        request=CallbackRequest,
        responses=(
            (201, CallbackAnswer, "The callback, waiting"),
            (200, CallbackAnswer, "The callback already waiting for this number and queue"),
            (422, Problem, "A field is wrong (`number` not E.164, `not_before` out of range)"),
        ),
    ),
    Operation(
        method="DELETE",
        path="/v1/callbacks/{call_id}",
        handler=callbacks.delete_callback,
        operation_id="cancelCallback",
        tag="Callbacks",
        summary="Cancel a waiting callback",
        roles=(GATEWAY, SUPERVISOR, ADMIN),
        description="Repeating it answers the canceled callback again.",
        params=(CALL,),
        responses=(
            (200, Call, "The callback, ended"),
            (409, Problem, "Not a callback, or an agent has accepted it already"),
        ),
    ),
)
