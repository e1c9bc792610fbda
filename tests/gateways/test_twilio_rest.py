"""The REST call update against a loopback server speaking Twilio's wire format."""

from __future__ import annotations

import asyncio
import base64
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from callcenter.errors import CallcenterError
from callcenter.gateways.twilio.rest import TwilioApiError, TwilioCall, TwilioRestClient
from callcenter.gateways.twilio.twiml import dial_agent

ACCOUNT_SID = "AC3f1f2a5b8c9d0e1f2a3b4c5d6e7f8a9b"
AUTH_TOKEN = "b9d3e1c5a7f2468e0c1d3b5a7f9e2c4d"
CALL_SID = "CA5e2b1c9d0f8a7b6c5d4e3f2a1b0c9d8e"
BUSY_SID = "CA00000000000000000000000000000429"  # 429 once, then fine
BROKEN_SID = "CA00000000000000000000000000000500"  # always 503
ENDED_SID = "CA00000000000000000000000000000400"  # 400: call not in progress
SLOW_SID = "CA000000000000000000000000000000ff"  # answers after 2 s
UNKNOWN_SID = "CAffffffffffffffffffffffffffffffff"


def _error(status: int, code: int, message: str) -> web.Response:
    """Twilio's JSON error body."""
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )


@dataclass
class FakeTwilio:
    """Records every request; answers as api.twilio.com does for the call update."""

    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    retry_after: str | None = None  # sent with the 429

    async def update_call(self, request: web.Request) -> web.StreamResponse:
        form = {key: str(value) for key, value in (await request.post()).items()}
        call_sid = request.match_info["call_sid"]
        self.requests.append((call_sid, form))
        expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return _error(401, 20003, "Authenticate")
        if request.match_info["account_sid"] != ACCOUNT_SID:
            return _error(403, 20003, "Permission Denied")
        if not request.content_type == "application/x-www-form-urlencoded":
            return _error(400, 20001, "Content-Type must be form-encoded")
        attempts = sum(1 for sid, _ in self.requests if sid == call_sid)
        if call_sid == BUSY_SID and attempts == 1:
            busy = _error(429, 20429, "Too Many Requests")
            if self.retry_after is not None:
                busy.headers["Retry-After"] = self.retry_after
            return busy
        if call_sid == BROKEN_SID:
            return web.Response(status=503, text="<html>Service Unavailable</html>")
        if call_sid == ENDED_SID:
            return _error(400, 21220, "Call is not in-progress. Cannot redirect.")
        if call_sid == SLOW_SID:
            await asyncio.sleep(2)
        if call_sid == UNKNOWN_SID:
            path = request.path
            return _error(404, 20404, f"The requested resource {path} was not found")
        status = form.get("Status", "in-progress")
        return web.json_response(
            {
                "account_sid": ACCOUNT_SID,
                "sid": call_sid,
                "parent_call_sid": None,
                "status": status,
                "direction": "inbound",
                "from": "+12125550199",
                "to": "+14155550100",
                "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{call_sid}.json",
                "date_created": "Tue, 05 Mar 2024 17:33:10 +0000",
            }
        )


@pytest.fixture
async def twilio(aiohttp_server: AiohttpServer) -> AsyncIterator[tuple[FakeTwilio, str]]:
    fake = FakeTwilio()
    app = web.Application()
    app.router.add_post(
        "/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}.json", fake.update_call
    )
    server = await aiohttp_server(app, host="127.0.0.1")
    yield fake, str(server.make_url("/"))


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def client(
    session: aiohttp.ClientSession,
    base_url: str,
    *,
    token: str = AUTH_TOKEN,
    max_attempts: int = 4,
    max_backoff_seconds: float = 8.0,
    timeout_seconds: float = 10.0,
) -> TwilioRestClient:
    """A client with a tiny first back-off, so retries cost milliseconds."""
    return TwilioRestClient(
        session,
        ACCOUNT_SID,
        token,
        base_url=base_url,
        max_attempts=max_attempts,
        first_backoff_seconds=0.001,
        max_backoff_seconds=max_backoff_seconds,
        timeout_seconds=timeout_seconds,
    )


async def test_update_call_posts_twiml_form_with_basic_auth(
    twilio: tuple[FakeTwilio, str], session: aiohttp.ClientSession
) -> None:
    fake, base_url = twilio
    twiml = dial_agent("client:agent-7", "call-1")
    call = await client(session, base_url).update_call(CALL_SID, twiml=twiml)
    assert call == TwilioCall(
        sid=CALL_SID,
        status="in-progress",
        account_sid=ACCOUNT_SID,
        from_="+12125550199",
        to="+14155550100",
        direction="inbound",
    )
    assert fake.requests == [(CALL_SID, {"Twiml": twiml})]


async def test_update_call_with_url_or_status(
    twilio: tuple[FakeTwilio, str], session: aiohttp.ClientSession
) -> None:
    fake, base_url = twilio
    rest = client(session, base_url)
    await rest.update_call(CALL_SID, url="https://cc.example.com/twilio/next?x=1", method="GET")
    ended = await rest.update_call(CALL_SID, status="completed")
    assert ended.status == "completed"
    assert [form for _, form in fake.requests] == [
        {"Url": "https://cc.example.com/twilio/next?x=1", "Method": "GET"},
        {"Status": "completed"},
    ]


async def test_429_is_retried(
    twilio: tuple[FakeTwilio, str], session: aiohttp.ClientSession
) -> None:
    fake, base_url = twilio
    call = await client(session, base_url).update_call(BUSY_SID, twiml="<Response/>")
    assert call.sid == BUSY_SID
    assert [sid for sid, _ in fake.requests] == [BUSY_SID, BUSY_SID]


async def test_5xx_is_retried_a_bounded_number_of_times(
    twilio: tuple[FakeTwilio, str], session: aiohttp.ClientSession
) -> None:
    fake, base_url = twilio
    with pytest.raises(TwilioApiError) as caught:
        await client(session, base_url, max_attempts=3).update_call(BROKEN_SID, twiml="<Response/>")
    assert len(fake.requests) == 3
    assert caught.value.status == 503
    assert caught.value.code is None
    assert "Service Unavailable" in caught.value.message


async def test_404_maps_twilios_error_body_and_is_not_retried(
    twilio: tuple[FakeTwilio, str], session: aiohttp.ClientSession
) -> None:
    fake, base_url = twilio
    with pytest.raises(TwilioApiError) as caught:
        await client(session, base_url).update_call(UNKNOWN_SID, twiml="<Response/>")
    error = caught.value
    assert isinstance(error, CallcenterError)
    assert (error.status, error.code) == (404, 20404)
    assert error.message.startswith("The requested resource /2010-04-01/Accounts/")
    assert error.more_info == "https://www.twilio.com/docs/errors/20404"
    assert str(error).startswith("Twilio API error 20404 (HTTP 404): The requested resource")
    assert len(fake.requests) == 1


async def test_other_4xx_are_final(
    twilio: tuple[FakeTwilio, str], session: aiohttp.ClientSession
) -> None:
    fake, base_url = twilio
    with pytest.raises(TwilioApiError) as caught:
        await client(session, base_url).update_call(ENDED_SID, twiml="<Response/>")
    assert (caught.value.status, caught.value.code) == (400, 21220)
    with pytest.raises(TwilioApiError) as caught:
        await client(session, base_url, token="wrong").update_call(CALL_SID, twiml="<Response/>")
    assert (caught.value.status, caught.value.code) == (401, 20003)
    assert len(fake.requests) == 2


async def test_retry_after_is_honoured_up_to_the_cap(
    twilio: tuple[FakeTwilio, str], session: aiohttp.ClientSession
) -> None:
    fake, base_url = twilio
    fake.retry_after = "30"
    started = time.monotonic()
    await client(session, base_url, max_backoff_seconds=0.3).update_call(
        BUSY_SID, twiml="<Response/>"
    )
    assert 0.29 <= time.monotonic() - started < 5  # waited the capped 0.3 s, not 0.001 s
    assert len(fake.requests) == 2


async def test_an_unreachable_api_is_retried_then_reported(
    session: aiohttp.ClientSession,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rest = client(session, f"http://127.0.0.1:{port}", max_attempts=3)
    with pytest.raises(TwilioApiError) as caught:
        await rest.update_call(CALL_SID, twiml="<Response/>")
    assert caught.value.status is None
    assert "cannot connect" in caught.value.message


async def test_a_request_that_may_have_arrived_is_not_repeated(
    twilio: tuple[FakeTwilio, str], session: aiohttp.ClientSession
) -> None:
    fake, base_url = twilio
    rest = client(session, base_url, timeout_seconds=0.2)
    with pytest.raises(TwilioApiError) as caught:
        await rest.update_call(SLOW_SID, twiml="<Response/>")
    assert caught.value.status is None
    assert len(fake.requests) == 1


async def test_bad_arguments(session: aiohttp.ClientSession) -> None:
    rest = client(session, "http://127.0.0.1:9")
    with pytest.raises(ValueError, match="call SID"):
        await rest.update_call("CA../../Accounts", twiml="<Response/>")
    with pytest.raises(ValueError, match="not both"):
        await rest.update_call(CALL_SID, twiml="<Response/>", url="https://x.example/t")
    with pytest.raises(ValueError, match="nothing"):
        await rest.update_call(CALL_SID)
    with pytest.raises(ValueError, match="account SID"):
        TwilioRestClient(session, "ACnope", AUTH_TOKEN)
