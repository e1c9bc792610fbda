"""What the OpenAPI document promises is what the server does, at the edges a fuzzer found:
whole numbers written `5.0`, blank caller numbers, roles, empty batches, a wrap-up without a
caller, and the answers that are not JSON."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest

from callcenter.domain.events import AnyCallEvent, SurveyCompleted
from callcenter.web.requests import decode
from tests.conftest import AppClient
from tests.web.test_openapi import document

BLANK = [" ", "\t \n", "\u3000", "\x1c", "\x85", "\u2028 \u00a0"]
NOT_BLANK = [" +1 555 0100 ", "anonymous", "-", "\ufeff", "İ" * 256]


async def problem(response: Any, status: int) -> Any:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    return await response.json()


async def test_open_pages_answer_the_documented_media_type(client: AppClient) -> None:
    doc = await document(client)
    checked = 0
    for path, item in doc["paths"].items():
        op = item.get("get")
        if op is None or op.get("security") != [] or "{" in path:
            continue
        response = await client.get(path)
        if path.startswith("/ws/"):  # an open websocket: a plain GET is asked to upgrade
            assert response.status == 426 and "426" in op["responses"], path
            continue
        assert response.status == 200, path
        assert response.content_type in op["responses"]["200"]["content"], path
        checked += 1
    assert checked >= 5  # /wallboard, /agent, /healthz, /readyz, /metrics


async def test_a_plain_get_of_a_media_socket_is_a_documented_400(
    client: AppClient, gateway: dict[str, str]
) -> None:
    doc = await document(client)
    assert "400" in doc["paths"]["/media/l16"]["get"]["responses"]
    await problem(await client.get("/media/l16", headers=gateway), 400)


async def test_whole_numbers_may_be_written_with_a_fraction(
    client: AppClient, admin: dict[str, str]
) -> None:
    created = await client.put(
        "/v1/agents/ann", json={"name": "Ann", "skills": {"en": 5.0, "fr": 2}}, headers=admin
    )
    assert created.status == 201, await created.text()
    assert (await created.json())["skills"] == {"en": 5, "fr": 2}
    half = await client.put(
        "/v1/agents/ann", json={"name": "Ann", "skills": {"en": 4.5}}, headers=admin
    )
    assert (await problem(half, 422))["pointer"].startswith("/skills")
    token = await client.post(
        "/v1/admin/tokens",
        json={"role": "gateway", "label": "x", "ttl_seconds": 3600.0},
        headers=admin,
    )
    assert token.status == 201, await token.text()
    events = [
        {"type": "call.created", "event_id": "c1", "call_id": "c1", "from": "+15550100"},
        {"type": "call.ended", "event_id": "e1", "call_id": "c1"},
        {"type": "survey.completed", "event_id": "s1", "call_id": "c1", "csat": 5.0},
    ]
    answered = await client.post("/v1/events", json=events, headers=admin)
    assert answered.status == 200, await answered.text()
    assert (await answered.json())["applied"] == 3


async def test_roles_outside_the_documented_pattern_are_422(
    client: AppClient, admin: dict[str, str]
) -> None:
    doc = await document(client)
    pattern = doc["components"]["schemas"]["TokenRequest"]["properties"]["role"]["pattern"]
    assert not re.search(pattern, "0")
    refused = await client.post("/v1/admin/tokens", json={"role": "0", "label": "x"}, headers=admin)
    assert (await problem(refused, 422))["pointer"] == "/role"


@pytest.mark.parametrize(
    ("number", "blank"), [(n, True) for n in BLANK] + [(n, False) for n in NOT_BLANK]
)
async def test_the_number_pattern_is_what_the_server_takes(
    client: AppClient, admin: dict[str, str], number: str, blank: bool
) -> None:
    doc = await document(client)
    (param,) = doc["paths"]["/v1/callers/{number}"]["put"]["parameters"]
    assert (re.search(param["schema"]["pattern"], number) is None) is blank
    response = await client.put(f"/v1/callers/{quote(number, safe='')}", json={}, headers=admin)
    if blank:
        assert (await problem(response, 422))["pointer"] == "/number"
    else:
        assert response.status == 200, await response.text()


async def test_an_empty_batch_is_outside_the_document_and_refused(
    client: AppClient, admin: dict[str, str]
) -> None:
    doc = await document(client)
    body = doc["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    (array,) = [s for s in body["schema"]["anyOf"] if s.get("type") == "array"]
    assert array["minItems"] == 1
    await problem(await client.post("/v1/events", json=[], headers=admin), 422)


async def test_a_wrap_up_for_a_call_without_a_number_is_a_conflict(
    client: AppClient, admin: dict[str, str]
) -> None:
    created = {"type": "call.created", "event_id": "e1", "call_id": "anon"}
    assert (await client.post("/v1/events", json=created, headers=admin)).status == 200
    response = await client.post("/v1/calls/anon/wrap-up", json={"disposition": "x"}, headers=admin)
    assert "no caller number" in (await problem(response, 409))["detail"]


async def test_a_limit_that_is_not_ascii_digits_is_422(
    client: AppClient, admin: dict[str, str]
) -> None:
    response = await client.get("/v1/calls", params={"limit": "²"}, headers=admin)
    assert (await problem(response, 422))["pointer"] == "/limit"


def test_only_whole_numbers_that_fit_become_integers() -> None:
    body = (
        b'{"type": "survey.completed", "event_id": "e", "call_id": "c", "csat": 5.0,'
        b' "attributes": {"big": 1e300, "half": 2.5, "whole": 3.0}}'
    )
    event = decode(body, AnyCallEvent)
    assert isinstance(event, SurveyCompleted)
    assert event.csat == 5
    assert event.attributes == {"big": 1e300, "half": 2.5, "whole": 3}
