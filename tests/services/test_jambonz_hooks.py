"""jambonz call status webhooks as a service and through the route, against the real Redis:
a signed hook is applied as a canonical event; no secret, a bad or stale signature is
Forbidden (403), counted, and applies nothing."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from callcenter.app import create_app
from callcenter.domain.calls import CallState
from callcenter.errors import Forbidden
from callcenter.gateways.jambonz.signature import sign_jambonz
from callcenter.metrics import Metrics
from callcenter.services.clock import SystemClock
from callcenter.services.jambonz_hooks import JambonzHooks
from callcenter.settings import Secret, Settings
from callcenter.web.state import METRICS, SERVICES
from tests.conftest import FIXTURES, AppClient

SECRET = "jambonz-webhook-secret"
NEW_CALL = (FIXTURES / "jambonz" / "call_hook_new_call.json").read_bytes()
CALL_SID = "9fb35c28-9688-4531-943c-e280b04f3adf"


def signed(body: bytes, *, secret: str = SECRET, age: int = 0) -> dict[str, str]:
    """The header jambonz sends for `body`, signed `age` seconds ago."""
    return {"Jambonz-Signature": sign_jambonz(secret, int(time.time()) - age, body)}


def failures(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value(
        "callcenter_auth_failures_total", {"reason": "jambonz_signature"}
    )


async def test_a_signed_hook_is_applied(client: AppClient) -> None:
    hooks = JambonzHooks(
        client.app[SERVICES].events, secret=SECRET, clock=SystemClock(), metrics=Metrics()
    )
    await hooks.call_status(signed(NEW_CALL), NEW_CALL)
    call = await client.app[SERVICES].calls.get(CALL_SID)
    assert (call.state, call.dialect, call.from_) == (CallState.QUEUED, "jambonz", "+15083084809")


@pytest.mark.parametrize(
    ("secret", "signing", "message"),
    [
        ("", {}, "need CALLCENTER_JAMBONZ_SECRET"),
        (SECRET, None, "missing Jambonz-Signature"),
        (SECRET, {"secret": "another"}, "does not match"),
        (SECRET, {"age": 3600}, "timestamp"),
    ],
    ids=["no secret", "no header", "other secret", "stale"],
)
async def test_an_unsigned_hook_is_forbidden_counted_and_applies_nothing(
    client: AppClient, secret: str, signing: dict[str, Any] | None, message: str
) -> None:
    metrics = Metrics()
    hooks = JambonzHooks(
        client.app[SERVICES].events, secret=secret, clock=SystemClock(), metrics=metrics
    )
    headers = {} if signing is None else signed(NEW_CALL, **signing)
    with pytest.raises(Forbidden, match=message):
        await hooks.call_status(headers, NEW_CALL)
    assert failures(metrics) == 1
    assert await client.app[SERVICES].calls.recent(None, 10) == []


async def test_the_route_answers_204_or_403(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: object,
) -> None:
    configured = dataclasses.replace(settings, jambonz_secret=Secret(SECRET))
    client = await aiohttp_client(create_app(configured))
    path = "/gateways/jambonz/status"
    forged = await client.post(path, data=NEW_CALL, headers=signed(NEW_CALL, secret="x"))
    assert forged.status == 403
    assert forged.content_type == "application/problem+json"
    assert failures(client.app[METRICS]) == 1
    taken = await client.post(path, data=NEW_CALL, headers=signed(NEW_CALL))
    assert taken.status == 204
    assert (await client.app[SERVICES].calls.get(CALL_SID)).dialect == "jambonz"
