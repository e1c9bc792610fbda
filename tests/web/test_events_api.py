"""POST /v1/events: canonical events, idempotency, ordering, validation, auth and signatures."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from blockbuster import blockbuster_ctx

from callcenter.app import create_app
from callcenter.gateways.generic.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from callcenter.settings import Secret, Settings
from callcenter.web.state import SERVICES
from tests.conftest import AppClient, TokenFactory

JSON = {"Content-Type": "application/json"}
PROBLEM = "application/problem+json"
SECRET = "s3cret"
AiohttpClient = Callable[..., Awaitable[AppClient]]


def at(seconds: int) -> str:
    """An RFC 3339 time `seconds` after a point 200 s ago (within the server's tolerance
    for gateway clocks, so the times are taken as they are)."""
    return (datetime.now(UTC) - timedelta(seconds=200 - seconds)).isoformat()


def event(kind: str, event_id: str, call_id: str = "c1", **fields: Any) -> dict[str, Any]:
    return {"type": kind, "event_id": event_id, "call_id": call_id, **fields}


async def post(client: AppClient, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    response = await client.post("/v1/events", json=body, headers=headers)
    return response.status, await response.json(content_type=None)


async def get_call(client: AppClient, call_id: str, headers: dict[str, str]) -> Any:
    response = await client.get(f"/v1/calls/{call_id}", headers=headers)
    assert response.status == 200, await response.text()
    return await response.json()


async def written_keys(redis_client: aioredis.Redis) -> list[bytes]:
    """Every call, call-index and event-dedupe key in Redis."""
    found: list[bytes] = []
    for pattern in ("{cc}:call*", "{cc}:seen:*"):
        found.extend([key async for key in redis_client.scan_iter(match=pattern)])
    return found


@asynccontextmanager
async def _started(aiohttp_client: AiohttpClient, settings: Settings) -> AsyncIterator[AppClient]:
    """The app for `settings` on a test server; afterwards, blocking calls fail the test."""
    started = await aiohttp_client(create_app(settings))
    with blockbuster_ctx(scanned_modules=["callcenter"]):
        yield started


@pytest.fixture
async def small_client(
    aiohttp_client: AiohttpClient, settings: Settings, redis_client: aioredis.Redis
) -> AsyncIterator[AppClient]:
    """The app with a 400-byte body limit and at most 3 events per batch."""
    small = replace(settings, max_body_bytes=400, max_batch_events=3)
    async with _started(aiohttp_client, small) as started:
        yield started


@pytest.fixture
async def signed_client(
    aiohttp_client: AiohttpClient, settings: Settings, redis_client: aioredis.Redis
) -> AsyncIterator[AppClient]:
    """The app with a generic-dialect webhook secret."""
    signed = replace(settings, webhook_secret=Secret(SECRET))
    async with _started(aiohttp_client, signed) as started:
        yield started


async def token(client: AppClient, role: str) -> dict[str, str]:
    issued, _ = await client.app[SERVICES].auth.create_token(role, "test")
    return {"Authorization": f"Bearer {issued}"}


# --- results: applied, stale, duplicate -------------------------------------------------------


async def test_single_event_is_applied(
    client: AppClient, gateway: dict[str, str], redis_client: aioredis.Redis
) -> None:
    status, body = await post(
        client, event("call.created", "e1", **{"from": "+15551230000", "queue": "billing"}), gateway
    )
    assert status == 200, body
    assert body == {
        "event_id": "e1",
        "call_id": "c1",
        "type": "call.created",
        "result": "applied",
        "state": "queued",
    }
    call = await get_call(client, "c1", gateway)
    assert (call["state"], call["queue"], call["caller_key"]) == (
        "queued",
        "billing",
        "+15551230000",
    )
    # The helper the rejection tests rely on does see what an accepted event writes.
    assert {b"{cc}:call:c1", b"{cc}:seen:e1"} <= set(await written_keys(redis_client))


async def test_batch_is_applied_in_order(client: AppClient, gateway: dict[str, str]) -> None:
    status, body = await post(
        client,
        [
            event("call.created", "e1"),
            event("call.dtmf", "e2", digits="12"),
            event("call.dtmf", "e3", digits="3#"),
            event("call.created", "e4", "c2"),
        ],
        gateway,
    )
    assert status == 200, body
    assert (body["applied"], body["rejected"]) == (4, 0)
    assert [item["index"] for item in body["items"]] == [0, 1, 2, 3]
    assert all("problem" not in item for item in body["items"])
    assert (await get_call(client, "c1", gateway))["attributes"]["dtmf"] == "123#"
    assert (await get_call(client, "c2", gateway))["state"] == "queued"


async def test_same_event_twice_is_duplicate_and_changes_nothing(
    client: AppClient, gateway: dict[str, str]
) -> None:
    await post(client, event("call.created", "e1", queue="billing", occurred_at=at(0)), gateway)
    first = event("call.answered", "e2", agent_id="a1", occurred_at=at(10))
    assert (await post(client, first, gateway))[1]["result"] == "applied"
    before = await get_call(client, "c1", gateway)

    status, body = await post(client, first, gateway)
    assert status == 200, body
    assert (body["result"], body["state"]) == ("duplicate", "connected")
    # A redelivery with the same id is a duplicate even when its content differs.
    changed = event("call.created", "e1", queue="sales", attributes={"lang": "ko"})
    assert (await post(client, changed, gateway))[1]["result"] == "duplicate"
    assert await get_call(client, "c1", gateway) == before


async def test_duplicate_inside_one_batch(client: AppClient, gateway: dict[str, str]) -> None:
    dtmf = event("call.dtmf", "e2", digits="5")
    status, body = await post(client, [event("call.created", "e1"), dtmf, dtmf], gateway)
    assert status == 200, body
    assert [item["result"]["result"] for item in body["items"]] == [
        "applied",
        "applied",
        "duplicate",
    ]
    assert (await get_call(client, "c1", gateway))["attributes"]["dtmf"] == "5"


# --- ordering -----------------------------------------------------------------------------------


async def test_answered_before_created(client: AppClient, gateway: dict[str, str]) -> None:
    status, body = await post(
        client, event("call.answered", "e2", agent_id="a1", occurred_at=at(10)), gateway
    )
    assert (status, body["result"], body["state"]) == (200, "applied", "connected")
    late = event("call.created", "e1", occurred_at=at(0), **{"from": "+15551230000"})
    status, body = await post(client, late, gateway)
    assert (status, body["result"], body["state"]) == (200, "stale", "connected")
    call = await get_call(client, "c1", gateway)
    assert (call["state"], call["agent_id"]) == ("connected", "a1")
    # A late created event still fills in what was not known yet.
    assert call["from"] == "+15551230000"


async def test_created_after_ended_is_stale(client: AppClient, gateway: dict[str, str]) -> None:
    ended = event("call.ended", "e3", occurred_at=at(30), end_reason="canceled")
    assert (await post(client, ended, gateway))[1]["state"] == "ended"
    status, body = await post(client, event("call.created", "e1", occurred_at=at(0)), gateway)
    assert (status, body["result"], body["state"]) == (200, "stale", "ended")
    call = await get_call(client, "c1", gateway)
    assert (call["state"], call["outcome"]) == ("ended", "abandoned")


async def test_late_events_never_move_an_ended_call_backwards(
    client: AppClient, gateway: dict[str, str]
) -> None:
    await post(
        client,
        [
            event("call.created", "e1", occurred_at=at(0)),
            event("call.answered", "e2", agent_id="a1", occurred_at=at(10)),
            event("call.ended", "e3", occurred_at=at(60)),
        ],
        gateway,
    )
    before = await get_call(client, "c1", gateway)
    assert before["state"] == "ended"
    status, body = await post(
        client,
        [
            event("call.answered", "e4", agent_id="a2", occurred_at=at(20)),
            event("call.transferred", "e5", queue="sales", occurred_at=at(30)),
            event("call.dtmf", "e6", digits="9", occurred_at=at(40)),
            event("call.ended", "e7", end_reason="failed", occurred_at=at(50)),
        ],
        gateway,
    )
    assert status == 200, body
    assert [item["result"]["result"] for item in body["items"]] == ["stale"] * 4
    assert [item["result"]["state"] for item in body["items"]] == ["ended"] * 4
    after = await get_call(client, "c1", gateway)
    assert (after["state"], after["agent_id"], after["queue"], after["outcome"]) == (
        "ended",
        "a1",
        "general",
        "handled",
    )
    assert "dtmf" not in after["attributes"]


async def test_transfer_older_than_the_answer_is_stale(
    client: AppClient, gateway: dict[str, str]
) -> None:
    await post(
        client,
        [
            event("call.created", "e1", occurred_at=at(0)),
            event("call.answered", "e2", agent_id="a1", occurred_at=at(20)),
        ],
        gateway,
    )
    late = event("call.transferred", "e3", queue="sales", occurred_at=at(10))
    status, body = await post(client, late, gateway)
    assert (status, body["result"], body["state"]) == (200, "stale", "connected")
    call = await get_call(client, "c1", gateway)
    assert (call["state"], call["agent_id"], call["queue"]) == ("connected", "a1", "general")


# --- conflicts and unknown calls ----------------------------------------------------------------


async def test_illegal_transition_is_409(
    client: AppClient, gateway: dict[str, str], redis_client: aioredis.Redis
) -> None:
    await post(client, event("call.created", "e1", occurred_at=at(0)), gateway)
    transfer = event("call.transferred", "e2", occurred_at=at(5))
    response = await client.post("/v1/events", json=transfer, headers=gateway)
    assert response.status == 409
    assert response.content_type == PROBLEM
    problem = await response.json(content_type=None)
    assert (problem["status"], problem["title"], problem["instance"]) == (
        409,
        "Conflict",
        "/v1/events",
    )
    assert problem["type"].endswith("/conflict")
    assert "queued" in problem["detail"]
    assert (await get_call(client, "c1", gateway))["state"] == "queued"
    assert not await redis_client.exists("{cc}:seen:e2")
    # The refused event was not remembered: once legal, the same delivery applies.
    await post(client, event("call.answered", "e3", agent_id="a1", occurred_at=at(3)), gateway)
    status, body = await post(client, transfer, gateway)
    assert (status, body["result"], body["state"]) == (200, "applied", "queued")


async def test_illegal_transition_inside_a_batch_is_207(
    client: AppClient, gateway: dict[str, str]
) -> None:
    status, body = await post(
        client,
        [
            event("call.created", "e1"),
            event("call.transferred", "e2"),
            event("call.created", "e3", "c2"),
        ],
        gateway,
    )
    assert status == 207, body
    assert (body["applied"], body["rejected"]) == (2, 1)
    first, bad, last = body["items"]
    assert (first["index"], first["result"]["result"]) == (0, "applied")
    assert (last["index"], last["result"]["result"]) == (2, "applied")
    assert bad["index"] == 1
    assert "result" not in bad
    assert (bad["problem"]["status"], bad["problem"]["pointer"]) == (409, "/1")
    assert bad["problem"]["type"].endswith("/conflict")
    assert (await get_call(client, "c1", gateway))["state"] == "queued"
    assert (await get_call(client, "c2", gateway))["state"] == "queued"


async def test_survey_for_unknown_call_is_404(
    client: AppClient, gateway: dict[str, str], redis_client: aioredis.Redis
) -> None:
    response = await client.post(
        "/v1/events", json=event("survey.completed", "s1", "nope", csat=5), headers=gateway
    )
    assert response.status == 404
    assert response.content_type == PROBLEM
    problem = await response.json(content_type=None)
    assert problem["status"] == 404
    assert "nope" in problem["detail"]
    assert await written_keys(redis_client) == []


async def test_survey_is_stored_in_caller_history(
    client: AppClient, gateway: dict[str, str], admin: dict[str, str]
) -> None:
    status, _ = await post(
        client,
        [
            event("call.created", "e1", **{"from": "+15551230000"}),
            event("call.answered", "e2", agent_id="a1"),
            event("call.ended", "e3"),
        ],
        gateway,
    )
    assert status == 200
    status, body = await post(client, event("survey.completed", "s1", csat=4, nps=9), gateway)
    assert (status, body["result"], body["type"]) == (200, "applied", "survey.completed")
    caller = await (await client.get("/v1/callers/+15551230000", headers=admin)).json()
    assert caller["history"]["last_survey"] == {"csat": 4, "nps": 9}
    assert [item["survey"] for item in caller["history"]["recent"]] == [{"csat": 4, "nps": 9}]
    assert (await get_call(client, "c1", gateway))["survey"] == {"csat": 4, "nps": 9}


# --- bad input ----------------------------------------------------------------------------------

GOOD = event("call.created", "e1")
BAD_INPUT: list[tuple[str, bytes, str, str | None]] = [
    ("malformed JSON", b'{"type": "call.created", ', "application/json", None),
    ("empty body", b"", "application/json", None),
    ("blank body", b"  \n", "application/json", None),
    ("not an object", b'"call.created"', "application/json", None),
    ("empty batch", b"[]", "application/json", None),
    (
        "wrong type",
        json.dumps({**event("call.created", "e1"), "call_id": 5}).encode(),
        "application/json",
        "/call_id",
    ),
    (
        "wrong type in a batch",
        json.dumps([{**event("call.created", "e1"), "call_id": 5}]).encode(),
        "application/json",
        "/0/call_id",
    ),
    (
        "second item of a batch",
        json.dumps([GOOD, {"type": "call.created", "call_id": "c2"}]).encode(),
        "application/json",
        "/1/event_id",
    ),
    (
        "unknown type",
        json.dumps(event("call.exploded", "e1")).encode(),
        "application/json",
        "/type",
    ),
    ("no type", b'{"event_id": "e1", "call_id": "c1"}', "application/json", "/type"),
    (
        "naive occurred_at",
        json.dumps(event("call.created", "e1", occurred_at="2024-05-01T10:00:00")).encode(),
        "application/json",
        "/occurred_at",
    ),
    (
        "bad end_reason",
        json.dumps(event("call.ended", "e1", end_reason="exploded")).encode(),
        "application/json",
        "/end_reason",
    ),
    (
        "bad digits",
        json.dumps(event("call.dtmf", "e1", digits="12x")).encode(),
        "application/json",
        "/digits",
    ),
    (
        "csat out of range",
        json.dumps(event("survey.completed", "e1", csat=6)).encode(),
        "application/json",
        "/csat",
    ),
    ("wrong Content-Type", json.dumps(GOOD).encode(), "text/plain", None),
    ("form Content-Type", json.dumps(GOOD).encode(), "application/x-www-form-urlencoded", None),
]


@pytest.mark.parametrize(
    ("body", "content_type", "pointer"),
    [case[1:] for case in BAD_INPUT],
    ids=[case[0] for case in BAD_INPUT],
)
async def test_bad_input_is_422_and_writes_nothing(
    client: AppClient,
    gateway: dict[str, str],
    redis_client: aioredis.Redis,
    body: bytes,
    content_type: str,
    pointer: str | None,
) -> None:
    response = await client.post(
        "/v1/events", data=body, headers={**gateway, "Content-Type": content_type}
    )
    assert response.status == 422, await response.text()
    assert response.content_type == PROBLEM
    problem = await response.json(content_type=None)
    assert (problem["status"], problem["title"]) == (422, "Invalid input")
    assert problem["type"].endswith("/invalid-input")
    assert problem["detail"]
    if pointer is not None:
        assert problem["pointer"] == pointer
    assert await written_keys(redis_client) == []


async def test_batch_over_the_limit_is_422(
    small_client: AppClient, redis_client: aioredis.Redis
) -> None:
    headers = await token(small_client, "gateway")
    four = [event("call.created", f"e{i}", f"c{i}") for i in range(4)]
    response = await small_client.post("/v1/events", json=four, headers=headers)
    assert response.status == 422
    assert response.content_type == PROBLEM
    assert "3" in (await response.json(content_type=None))["detail"]
    assert await written_keys(redis_client) == []
    status, body = await post(small_client, four[:3], headers)
    assert (status, body["applied"]) == (200, 3)


async def test_oversize_body_is_413(small_client: AppClient, redis_client: aioredis.Redis) -> None:
    headers = await token(small_client, "gateway")
    big = event("call.created", "e1", attributes={"note": "x" * 500})
    response = await small_client.post("/v1/events", json=big, headers=headers)
    assert response.status == 413
    assert response.content_type == PROBLEM
    problem = await response.json(content_type=None)
    assert problem["status"] == 413
    assert "400" in problem["detail"]
    assert await written_keys(redis_client) == []


async def test_oversize_chunked_body_is_413(
    small_client: AppClient, redis_client: aioredis.Redis
) -> None:
    """Without a Content-Length the limit still holds while reading."""
    headers = await token(small_client, "gateway")
    payload = json.dumps(event("call.created", "e1", attributes={"note": "x" * 500})).encode()

    async def chunks() -> AsyncGenerator[bytes, None]:
        for start in range(0, len(payload), 100):
            yield payload[start : start + 100]

    response = await small_client.post("/v1/events", data=chunks(), headers={**headers, **JSON})
    assert response.status == 413
    assert response.content_type == PROBLEM
    assert await written_keys(redis_client) == []


async def test_small_body_passes_the_small_limit(small_client: AppClient) -> None:
    headers = await token(small_client, "gateway")
    status, body = await post(small_client, event("call.created", "e1"), headers)
    assert (status, body["result"]) == (200, "applied")


# --- authentication -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer not-a-token", "Basic dXNlcjpwYXNz"]
)
async def test_without_a_valid_token_is_401(
    client: AppClient, redis_client: aioredis.Redis, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.post("/v1/events", json=GOOD, headers=headers)
    assert response.status == 401
    assert response.content_type == PROBLEM
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await response.json(content_type=None))["status"] == 401
    assert await written_keys(redis_client) == []


@pytest.mark.parametrize("role", ["agent:a1", "supervisor"])
async def test_other_roles_are_403(
    client: AppClient, token_for: TokenFactory, redis_client: aioredis.Redis, role: str
) -> None:
    response = await client.post("/v1/events", json=GOOD, headers=await token_for(role))
    assert response.status == 403
    assert response.content_type == PROBLEM
    assert (await response.json(content_type=None))["status"] == 403
    assert await written_keys(redis_client) == []


@pytest.mark.parametrize("role", ["gateway", "admin"])
async def test_gateway_and_admin_may_post(
    client: AppClient, token_for: TokenFactory, role: str
) -> None:
    status, body = await post(client, GOOD, await token_for(role))
    assert (status, body["result"]) == (200, "applied")


# --- signed webhooks ----------------------------------------------------------------------------


def signed(body: bytes, *, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {**JSON, TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: sign(secret, ts, body)}


async def test_signed_body_is_accepted_without_a_token(signed_client: AppClient) -> None:
    body = json.dumps(GOOD).encode()
    response = await signed_client.post("/v1/events", data=body, headers=signed(body))
    assert response.status == 200, await response.text()
    assert (await response.json())["result"] == "applied"


async def test_rotated_secret_list_is_accepted(signed_client: AppClient) -> None:
    body = json.dumps(GOOD).encode()
    headers = signed(body)
    ts = int(headers[TIMESTAMP_HEADER])
    headers[SIGNATURE_HEADER] = f"{sign('old', ts, body)}, {headers[SIGNATURE_HEADER]}"
    response = await signed_client.post("/v1/events", data=body, headers=headers)
    assert response.status == 200, await response.text()


async def test_bearer_token_still_works_with_a_secret(signed_client: AppClient) -> None:
    status, body = await post(signed_client, GOOD, await token(signed_client, "gateway"))
    assert (status, body["result"]) == (200, "applied")


def _tampered(body: bytes) -> tuple[bytes, dict[str, str]]:
    """Signed for one body, sent with another."""
    return body.replace(b'"c1"', b'"c9"'), signed(body)


def _wrong_secret(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed(body, secret="guess")


def _old(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed(body, timestamp=int(time.time()) - 1000)


def _future(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed(body, timestamp=int(time.time()) + 1000)


def _garbled_timestamp(body: bytes) -> tuple[bytes, dict[str, str]]:
    headers = signed(body)
    return body, {**headers, TIMESTAMP_HEADER: "yesterday"}


def _huge_timestamp(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {**signed(body), TIMESTAMP_HEADER: "9" * 400}


def _unsigned(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, dict(JSON)


def _no_timestamp(body: bytes) -> tuple[bytes, dict[str, str]]:
    headers = signed(body)
    del headers[TIMESTAMP_HEADER]
    return body, headers


@pytest.mark.parametrize(
    "forge",
    [
        _tampered,
        _wrong_secret,
        _old,
        _future,
        _garbled_timestamp,
        _huge_timestamp,
        _unsigned,
        _no_timestamp,
    ],
)
async def test_bad_signatures_are_401(
    signed_client: AppClient,
    redis_client: aioredis.Redis,
    forge: Callable[[bytes], tuple[bytes, dict[str, str]]],
) -> None:
    body, headers = forge(json.dumps(GOOD).encode())
    response = await signed_client.post("/v1/events", data=body, headers=headers)
    assert response.status == 401
    assert response.content_type == PROBLEM
    assert "WWW-Authenticate" in response.headers
    assert await written_keys(redis_client) == []


async def test_replayed_signed_request_is_401(
    signed_client: AppClient, redis_client: aioredis.Redis
) -> None:
    body = json.dumps(event("call.dtmf", "e1", digits="1")).encode()
    headers = signed(body)
    first = await signed_client.post("/v1/events", data=body, headers=headers)
    assert first.status == 200, await first.text()
    again = await signed_client.post("/v1/events", data=body, headers=headers)
    assert again.status == 401
    assert "replay" in (await again.json(content_type=None))["detail"]
    call = await get_call(signed_client, "c1", await token(signed_client, "admin"))
    assert (call["attributes"]["dtmf"], call["version"]) == ("1", 1)


@pytest.mark.parametrize(
    "body",
    [b'{"x":' + b"[" * 5000 + b"]" * 5000 + b"}", b'{"type": "call.created", "event_id": "\xff"}'],
    ids=["deeply-nested", "invalid-utf8"],
)
async def test_hostile_json_is_a_422_not_a_500(
    client: AppClient, gateway: dict[str, str], body: bytes
) -> None:
    response = await client.post(
        "/v1/events", data=body, headers={**gateway, "Content-Type": "application/json"}
    )
    assert response.status == 422, await response.text()
    assert response.content_type == "application/problem+json"
