"""`/v1/calls`: read calls, one (a queued one with its estimated wait) or by state."""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from callcenter.domain.calls import Call, CallState
from callcenter.errors import Conflict, InvalidInput
from callcenter.web.problem import json_response
from callcenter.web.requests import decode_json, path_id
from callcenter.web.state import SERVICES

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class CallList(msgspec.Struct, frozen=True, kw_only=True):
    calls: list[Call]


class CallDetail(Call, frozen=True, kw_only=True):
    """A call, and for a queued one the seconds it should still wait by its place in line
    (null otherwise, or when it cannot be told: no agent staffed, no recent handle time)."""

    estimated_wait_seconds: float | None = None


class WrapUp(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The agent's wrap-up of a finished call, kept in the caller's history."""

    disposition: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    notes: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class WrappedUp(msgspec.Struct, frozen=True, kw_only=True):
    call_id: str
    caller: str
    disposition: str
    notes: str


async def wrap_up_call(request: web.Request) -> web.Response:
    form = await decode_json(request, WrapUp)
    services = request.app[SERVICES]
    call = await services.calls.get(path_id(request, "call_id"))
    if call.caller_key is None:
        # the body is fine; the call is not one a wrap-up can be kept for
        raise Conflict(
            f"call {call.id!r} has no caller number, so it has no caller history to keep "
            "a wrap-up in"
        )
    await services.callers.record_wrap_up(call.caller_key, call.id, form.disposition, form.notes)
    return json_response(
        WrappedUp(
            call_id=call.id,
            caller=call.caller_key,
            disposition=form.disposition,
            notes=form.notes,
        )
    )


async def get_call(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    call = await services.calls.get(path_id(request, "call_id"))
    wait = await services.outlook.call_wait(call)
    fields = {field: getattr(call, field) for field in call.__struct_fields__}
    return json_response(CallDetail(**fields, estimated_wait_seconds=wait))


def _state(raw: str | None) -> CallState | None:
    if raw is None or raw == "active":
        return None
    try:
        return CallState(raw)
    except ValueError:
        allowed = ", ".join(["active", *CallState])
        raise InvalidInput(f"state must be one of {allowed}", "/state") from None


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidInput(f"limit must be an integer 1..{MAX_LIMIT}", "/limit")
    return int(raw)


async def list_calls(request: web.Request) -> web.Response:
    state = _state(request.query.get("state"))
    limit = _limit(request.query.get("limit"))
    calls = await request.app[SERVICES].calls.recent(state, limit)
    return json_response(CallList(calls=calls))
