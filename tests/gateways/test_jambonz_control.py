"""jambonz live call control: the REST call update against a loopback fake of jambonz's api
server (jambonz_rest_fake), the notifier sending it on accept, the verbs the redirected call
hook answers with, and the dial's outcome (bodies in fixtures/jambonz/dial_action_*.json)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from callcenter.backoff import Backoff
from callcenter.domain.calls import Call, CallState, DialOutcome
from callcenter.errors import CallcenterError, InvalidInput, PayloadTooLarge
from callcenter.gateways.jambonz.dial import (
    SIP_CALL_ID_HEADER,
    dial_agent_verbs,
    dial_outcome,
    dial_target,
)
from callcenter.gateways.jambonz.notify import JambonzNotifier
from callcenter.gateways.jambonz.rest import JambonzApiError, JambonzRestClient
from callcenter.metrics import Metrics
from callcenter.storage.embedded import free_port
from tests.conftest import FIXTURES
from tests.gateways.jambonz_rest_fake import FakeJambonzApi, RecordedRequest

ACCOUNT_SID = "9351f46a-678c-43f5-b8a6-d4eb58d131af"
API_KEY = "3f9c2d1e-7b4a-4e8f-9a6c-5d2b1e0f7a93"
CALL_SID = "9fb35c28-9688-4531-943c-e280b04f3adf"
UNKNOWN_SID = "00000000-0000-4000-8000-000000000404"
HOOK = "https://cc.example.com/gateways/jambonz/redirect?call=c1"
FAST = Backoff(0.001, 0.01)
JAMBONZ = FIXTURES / "jambonz"


@dataclass(frozen=True)
class Jambonz:
    """The fake api server (one live call, CALL_SID) and a session to reach it."""

    fake: FakeJambonzApi
    session: aiohttp.ClientSession

    def client(self, base_url: str | None = None, **options: Any) -> JambonzRestClient:
        """A client of the fake with a back-off of milliseconds (unless `backoff` is given)."""
        chosen: dict[str, Any] = {"backoff": FAST, "api_key": API_KEY} | options
        url = base_url or self.fake.url
        return JambonzRestClient(self.session, base_url=url, account_sid=ACCOUNT_SID, **chosen)

    def notifier(
        self, metrics: Metrics, hook_url: Callable[[Call], str] | None = None
    ) -> JambonzNotifier:
        return JambonzNotifier(self.client(), hook_url=hook_url or hook_for, metrics=metrics)


@pytest.fixture
async def jambonz() -> AsyncIterator[Jambonz]:
    async with aiohttp.ClientSession() as session, FakeJambonzApi(ACCOUNT_SID, API_KEY) as fake:
        fake.add_call(CALL_SID)
        yield Jambonz(fake, session)


# --- the REST call update -------------------------------------------------------------


@pytest.mark.parametrize("root", ["", "/", "/v1", "/v1/"])
async def test_a_redirect_puts_the_call_hook_with_the_bearer_key(
    jambonz: Jambonz, root: str
) -> None:
    await jambonz.client(jambonz.fake.url + root).redirect_call(CALL_SID, HOOK)
    path = f"/v1/Accounts/{ACCOUNT_SID}/Calls/{CALL_SID}"
    body = {"call_hook": {"url": HOOK, "method": "POST"}}
    bearer = f"Bearer {API_KEY}"
    expected = RecordedRequest("PUT", path, ACCOUNT_SID, CALL_SID, bearer, "application/json", body)
    assert jambonz.fake.requests == [expected]


async def test_transient_503s_are_retried_until_accepted(jambonz: Jambonz) -> None:
    jambonz.fake.fail_next(2, 503)
    await jambonz.client().redirect_call(CALL_SID, HOOK)
    assert len(jambonz.fake.requests) == 3
    assert len({json.dumps(request.body) for request in jambonz.fake.requests}) == 1


async def test_a_429_waits_for_retry_after_up_to_the_backoff_cap(jambonz: Jambonz) -> None:
    jambonz.fake.fail_next(1, 429, retry_after="5")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await jambonz.client(backoff=Backoff(0.001, 0.3)).redirect_call(CALL_SID, HOOK)
    # without Retry-After the first wait would be at most 1 ms; 5 s is capped at 0.3 s
    assert loop.time() - started >= 0.29
    assert len(jambonz.fake.requests) == 2


@pytest.mark.parametrize(
    ("status", "message"), [(503, "<html>Service Unavailable</html>"), (429, "Too Many Requests")]
)
async def test_retries_are_bounded_and_never_log_the_key(
    jambonz: Jambonz, caplog: pytest.LogCaptureFixture, status: int, message: str
) -> None:
    caplog.set_level(logging.DEBUG)
    jambonz.fake.fail_next(10, status)
    with pytest.raises(JambonzApiError) as caught:
        await jambonz.client(max_attempts=3).redirect_call(CALL_SID, HOOK)
    assert len(jambonz.fake.requests) == 3
    assert (caught.value.status, caught.value.message) == (status, message)
    assert "attempt 3 of 3" in caplog.text
    assert API_KEY not in caplog.text
    assert API_KEY not in repr(jambonz.client())


@pytest.mark.parametrize(
    ("call_sid", "api_key", "fail", "status", "message"),
    [
        (UNKNOWN_SID, API_KEY, None, 404, "Not Found"),
        (CALL_SID, "not-the-key", None, 401, "Unauthorized"),
        # a proxy gave up waiting: the update may be under way, a second one would ring twice
        (CALL_SID, API_KEY, 504, 504, "<html>Gateway Timeout</html>"),
    ],
)
async def test_final_answers_are_not_retried(
    jambonz: Jambonz, call_sid: str, api_key: str, fail: int | None, status: int, message: str
) -> None:
    if fail is not None:
        jambonz.fake.fail_next(1, fail)
    with pytest.raises(JambonzApiError) as caught:
        await jambonz.client(api_key=api_key).redirect_call(call_sid, HOOK)
    error = caught.value
    assert isinstance(error, CallcenterError)
    assert (error.status, error.message) == (status, message)
    assert str(error) == f"jambonz API (HTTP {status}): {message}"
    assert len(jambonz.fake.requests) == 1


async def test_an_unreachable_api_is_retried_then_raised(jambonz: Jambonz) -> None:
    rest = jambonz.client(f"http://127.0.0.1:{free_port()}", max_attempts=2)
    with pytest.raises(JambonzApiError) as caught:
        await rest.redirect_call(CALL_SID, HOOK)
    assert (caught.value.status, caught.value.message[:14]) == (None, "cannot connect")


@pytest.mark.parametrize(
    "options",
    [
        {"base_url": "jambonz.example.com"},
        {"base_url": "ftp://jambonz.example.com"},
        {"base_url": "http://"},
        {"base_url": "https://jambonz.example.com/?key=1"},
        {"base_url": "https://user:pw@jambonz.example.com"},
        {"account_sid": "AC" + "0" * 32},
        {"api_key": ""},
        {"api_key": "two words"},
    ],
)
async def test_an_unusable_configuration_is_a_value_error(
    jambonz: Jambonz, options: dict[str, str]
) -> None:
    usable: dict[str, Any] = {"base_url": "https://example.com", "account_sid": ACCOUNT_SID}
    with pytest.raises(ValueError):
        JambonzRestClient(jambonz.session, **(usable | {"api_key": API_KEY} | options))


@pytest.mark.parametrize(
    ("call_sid", "hook"),
    [("CA" + "ab" * 16, HOOK), ("", HOOK), (CALL_SID, "/relative"), (CALL_SID, "wss://x/y")],
)
async def test_a_bad_call_sid_or_hook_is_refused_before_sending(
    jambonz: Jambonz, call_sid: str, hook: str
) -> None:
    with pytest.raises(ValueError):
        await jambonz.client().redirect_call(call_sid, hook)
    assert jambonz.fake.requests == []


# --- the notifier ---------------------------------------------------------------------


def a_call(*, dialect: str = "jambonz", agent_id: str | None = "ann", sid: str = CALL_SID) -> Call:
    now = datetime.now(UTC)
    return Call(
        id=f"call-{sid[:8]}-{dialect}",
        gateway_call_id=sid,
        state=CallState.CONNECTED,
        queue="billing",
        created_at=now,
        updated_at=now,
        last_event_at=now,
        dialect=dialect,
        agent_id=agent_id,
    )


def hook_for(call: Call) -> str:
    return f"https://cc.example.com/gateways/jambonz/redirect?call={call.id}"


def deliveries(metrics: Metrics, result: str) -> float:
    labels = {"type": "jambonz.call_update", "result": result}
    return metrics.registry.get_sample_value("callcenter_webhook_deliveries_total", labels) or 0.0


async def test_only_assigned_jambonz_calls_are_redirected_and_routing_never_waits(
    jambonz: Jambonz,
) -> None:
    metrics = Metrics()
    notifier = jambonz.notifier(metrics)
    await notifier.route_event("route.assigned", a_call(dialect="twilio"), None)
    await notifier.route_event("route.offered", a_call(), None)
    await notifier.route_event("callback.accepted", a_call(), None)
    await notifier.route_event("route.assigned", a_call(agent_id=None), None)
    call = a_call(agent_id="bob")
    await notifier.route_event("route.assigned", call, None)
    assert jambonz.fake.requests == []  # only a task was started: nothing has run yet

    async with asyncio.timeout(5):
        await jambonz.fake.wait_for_requests(1)
    await notifier.stop()
    [request] = jambonz.fake.requests  # the other events sent nothing
    assert request.call_sid == CALL_SID
    assert request.body == {"call_hook": {"url": hook_for(call), "method": "POST"}}
    assert (deliveries(metrics, "delivered"), deliveries(metrics, "failed")) == (1, 0)


async def test_failed_redirects_are_counted_and_logged_with_the_call(
    jambonz: Jambonz, caplog: pytest.LogCaptureFixture
) -> None:
    def no_url(call: Call) -> str:
        raise ValueError("no public URL configured")

    metrics = Metrics()
    refused, unaddressed = jambonz.notifier(metrics), jambonz.notifier(metrics, no_url)
    call = a_call(sid=UNKNOWN_SID)
    await refused.route_event("route.assigned", call, None)
    await unaddressed.route_event("route.assigned", a_call(), None)  # must not raise
    await refused.stop()
    await unaddressed.stop()
    assert [request.call_sid for request in jambonz.fake.requests] == [UNKNOWN_SID]
    assert (deliveries(metrics, "delivered"), deliveries(metrics, "failed")) == (0, 2)
    [record] = [r for r in caplog.records if "HTTP 404" in r.getMessage()]
    assert (record.__dict__["call_id"], record.__dict__["agent_id"]) == (call.id, "ann")


# --- the verbs of the redirected call -------------------------------------------------


@pytest.mark.parametrize(
    ("agent", "target"),
    [
        ("sip:ann@pbx.example", {"type": "sip", "sipUri": "sip:ann@pbx.example"}),
        ("SIPS:ann@pbx.example;lr", {"type": "sip", "sipUri": "SIPS:ann@pbx.example;lr"}),
        ("user:ann@sip.example.com", {"type": "user", "name": "ann@sip.example.com"}),
        ("user:ann", {"type": "user", "name": "ann"}),
        ("ann@sip.example.com", {"type": "user", "name": "ann@sip.example.com"}),
        ("+15551230000", {"type": "phone", "number": "+15551230000"}),
        ("tel:+442071234567", {"type": "phone", "number": "+442071234567"}),
    ],
)
def test_each_kind_of_agent_target(agent: str, target: dict[str, object]) -> None:
    assert dial_target(agent) == target
    verbs = dial_agent_verbs(agent, "call-1", action_hook_url=None, timeout_seconds=None)
    assert verbs[-1]["target"] == [target]


def test_the_verbs_tag_the_call_then_dial_the_agent_with_the_call_id_header() -> None:
    action = "https://cc.example.com/gateways/jambonz/dial-action?call=call-1"
    verbs = dial_agent_verbs(
        "sip:ann@pbx.example", "call-1", action_hook_url=action, timeout_seconds=20, agent_id="ann"
    )
    assert verbs == [
        {"verb": "tag", "data": {"callcenter_call_id": "call-1", "callcenter_agent_id": "ann"}},
        {
            "verb": "dial",
            "target": [{"type": "sip", "sipUri": "sip:ann@pbx.example"}],
            "answerOnBridge": True,
            "headers": {SIP_CALL_ID_HEADER: "call-1"},
            "actionHook": {"url": action, "method": "POST"},
            "timeout": 20,
        },
    ]
    assert json.loads(json.dumps(verbs)) == verbs
    bare = dial_agent_verbs("+15551230000", "call-1", action_hook_url=None, timeout_seconds=None)
    assert bare[0] == {"verb": "tag", "data": {"callcenter_call_id": "call-1"}}
    assert "actionHook" not in bare[1] and "timeout" not in bare[1]


@pytest.mark.parametrize(
    "agent",
    ["", " ", "client:ann", "ann", "+0123", "+1 555 123", "+1555123456789012", "sip:",
     "sip:@pbx.example", "sip:ann@pbx example", "tel:5551234", "user:", "ann@pbx example",
     "sip:ann@pbx.example\r\nX-Evil: 1", "x" * 300 + "@pbx.example"],
)  # fmt: skip
def test_an_unusable_agent_target_is_a_value_error(agent: str) -> None:
    with pytest.raises(ValueError):
        dial_agent_verbs(agent, "call-1", action_hook_url=None, timeout_seconds=None)


@pytest.mark.parametrize(
    "options",
    [
        {"call_id": "call-1\r\nX-Evil: 1"},
        {"call_id": ""},
        {"timeout_seconds": 0},
        {"timeout_seconds": 601},
        {"agent_id": "ann smith"},
        {"action_hook_url": ""},
    ],
)
def test_unusable_dial_options_are_value_errors(options: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {"call_id": "call-1", "action_hook_url": None}
    with pytest.raises(ValueError):
        dial_agent_verbs("user:ann", **(arguments | {"timeout_seconds": None} | options))


# --- the dial's outcome ---------------------------------------------------------------


def body_of(name: str, **changes: Any) -> bytes:
    """A fixture, with fields replaced (a value of None removes the field)."""
    document: dict[str, Any] = json.loads((JAMBONZ / name).read_bytes()) | changes
    return json.dumps({key: value for key, value in document.items() if value is not None}).encode()


@pytest.mark.parametrize(
    ("fixture", "outcome", "sip_status"),
    [
        ("dial_action_answered.json", DialOutcome.ANSWERED, 200),
        ("dial_action_no_answer.json", DialOutcome.NO_ANSWER, 487),
        ("dial_action_busy.json", DialOutcome.BUSY, 486),
        ("dial_action_failed.json", DialOutcome.FAILED, 404),
    ],
)
def test_the_outcome_of_each_dial_status(
    fixture: str, outcome: DialOutcome, sip_status: int
) -> None:
    result = dial_outcome(body_of(fixture))
    assert (result.outcome, result.sip_status) == (outcome, sip_status)
    assert result.call_sid == CALL_SID
    assert (result.call_id, result.agent_id) == ("0b6f3c1e-52a4-4d8e-9f61-3c2a7b9e4d10", "ann")
    assert result.dial_call_sid is not None


def test_the_tag_of_the_verbs_comes_back_as_the_outcomes_agent() -> None:
    verbs = dial_agent_verbs(
        "user:bob", "c7", action_hook_url=None, timeout_seconds=1, agent_id="bob"
    )
    result = dial_outcome(body_of("dial_action_answered.json", customerData=verbs[0]["data"]))
    assert (result.call_id, result.agent_id) == ("c7", "bob")


@pytest.mark.parametrize(
    ("changes", "outcome", "agent_id"),
    [
        # the dial ended while the agent's phone still rang (ring timeout, caller gone)
        ({"dial_call_status": "early-media", "dial_sip_status": 183}, DialOutcome.NO_ANSWER, "ann"),
        # no leg ever reported: the INVITE could not be sent
        ({"dial_call_status": None, "dial_sip_status": None}, DialOutcome.FAILED, "ann"),
        # the name jambonz's dial page documents
        ({"dial_call_status": None, "dial_status": "busy"}, DialOutcome.BUSY, "ann"),
        # a call our verbs did not tag
        ({"customerData": None}, DialOutcome.NO_ANSWER, None),
    ],
)
def test_dial_endings_beyond_the_recorded_ones(
    changes: dict[str, Any], outcome: DialOutcome, agent_id: str | None
) -> None:
    result = dial_outcome(body_of("dial_action_no_answer.json", **changes))
    assert (result.outcome, result.agent_id) == (outcome, agent_id)


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (body_of("dial_action_busy.json", call_sid=None), "/call_sid"),
        (body_of("dial_action_busy.json", dial_call_status="exploded"), "/dial_call_status"),
        (body_of("dial_action_busy.json", dial_sip_status="486"), "/dial_sip_status"),
        (body_of("dial_action_busy.json", dial_sip_status=99), "/dial_sip_status"),
        (
            body_of("dial_action_busy.json", customerData={"callcenter_agent_id": 7}),
            "/customerData/callcenter_agent_id",
        ),
        (b"[]", ""),
        (b"{not json", ""),
        (b"  ", ""),
    ],
)
def test_a_malformed_action_body_names_the_field(body: bytes, pointer: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        dial_outcome(body)
    assert caught.value.pointer == pointer
    with pytest.raises(PayloadTooLarge):
        dial_outcome(b" " * (256 * 1024 + 1))
