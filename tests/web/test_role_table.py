"""The route table's roles are what is enforced: every operation, called by every role.

For each role the world is the same: agent `a1` holds an offer for call `c1` from caller
`+15550001111`; agent `a2` holds nothing. An operation that declares the role (or `SELF`,
for `a1` on what it holds, and for `a2` where the path names nothing) must not answer 401
or 403; one that does not must answer 403 (401 without a token). Open operations never
ask for a token; vendor-signed ones refuse a bearer token without the vendor's signature.
Whatever a body or state problem an allowed call meets (422, 404, 409) is not this test's
concern: the declaration and the enforcement are, so the two cannot drift."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import WSMsgType

from callcenter.domain.auth import (
    ADMIN,
    GATEWAY,
    JAMBONZ_SIGNED,
    MAILGUN_SIGNED,
    OPEN,
    SELF,
    SUPERVISOR,
    TOKEN_ROLES,
    TWILIO_SIGNED,
)
from callcenter.web.close_codes import CLOSE_FORBIDDEN
from callcenter.web.operation import Credentials, Operation
from callcenter.web.routes import OPERATIONS
from tests.conftest import AppClient, TokenFactory
from tests.polling import eventually

NUMBER = "+15550001111"
ROLES = ("admin", "supervisor", "gateway", "agent:a1", "agent:a2")
# methods in the order a role walks them: reads first, so that a destructive call (an
# accepted offer, an erased caller) cannot change what a later one of the same role meets
ORDER = {"GET": 0, "OPTIONS": 0, "PUT": 1, "POST": 2, "DELETE": 3}


def _declared(op: Operation, role: str) -> bool:
    """What the declaration says `role` may do with `op` (independent of the code)."""
    if role in (ADMIN, SUPERVISOR, GATEWAY):
        return role in op.roles
    if SELF not in op.roles:
        return False
    names_things = "{" in op.path
    return role == "agent:a1" or not names_things  # a2 owns nothing a path can name


async def _world(client: AppClient, token_for: TokenFactory) -> dict[str, str]:
    """a1 holds an offer for c1 (caller NUMBER) and a chat offer; a2 exists and holds
    nothing."""
    admin = await token_for("admin")
    for agent in ("a1", "a2"):
        put = await client.put(
            f"/v1/agents/{agent}", json={"name": agent, "skills": {}}, headers=admin
        )
        assert put.status == 201, await put.text()
    available = await client.post(
        "/v1/agents/a1/presence", json={"presence": "available"}, headers=admin
    )
    assert available.status == 200, await available.text()
    opened = await client.post(
        "/v1/tasks", json={"channel": "chat", "from": NUMBER, "body": "hi"}, headers=admin
    )
    assert opened.status == 201, await opened.text()
    task_id = (await opened.json())["task_id"]

    async def task_offered() -> bool:
        read = await (await client.get(f"/v1/tasks/{task_id}", headers=admin)).json()
        return bool(read["task"]["state"] == "offered")

    await eventually(task_offered)  # a1 holds the chat; a call may still come to it
    created = {"type": "call.created", "event_id": "c1-c", "call_id": "c1", "from": NUMBER}
    posted = await client.post("/v1/events", json=created, headers=admin)
    assert posted.status == 200, await posted.text()

    async def call() -> dict[str, Any]:
        read: dict[str, Any] = await (await client.get("/v1/calls/c1", headers=admin)).json()
        return read

    async def offered() -> bool:
        return bool((await call())["state"] == "offered")

    await eventually(offered)
    offer = await call()
    assert offer["agent_id"] == "a1"
    return {
        "agent_id": "a1",
        "call_id": "c1",
        "reservation_id": offer["reservation"]["id"],
        "number": NUMBER,
        "alert_id": "al-1",
        "step": "menu",
        "queue": "default",
        "task_id": task_id,
    }


def _path(op: Operation, values: dict[str, str]) -> str:
    return op.path.format(**values)


async def _socket_verdict(client: AppClient, path: str, token: str) -> str:
    """'open' if the socket answered the auth message with a snapshot, 'forbidden' if it
    said so and closed with 4403."""
    ws = await client.ws_connect(path)
    await ws.send_str(json.dumps({"type": "auth", "token": token, "since": None}))
    first = await ws.receive(timeout=5)
    assert first.type is WSMsgType.TEXT, (path, first)
    answer = json.loads(first.data)
    if answer["type"] == "snapshot":
        await ws.close()
        return "open"
    assert answer == {"type": "error", "code": "forbidden", "message": answer["message"]}
    closed = await ws.receive(timeout=5)
    assert (closed.type, closed.data) == (WSMsgType.CLOSE, CLOSE_FORBIDDEN), (path, closed)
    return "forbidden"


@pytest.mark.parametrize("role", ROLES)
async def test_every_operation_enforces_its_declared_roles(
    client: AppClient, token_for: TokenFactory, role: str
) -> None:
    values = await _world(client, token_for)
    headers = await token_for(role)
    token = headers["Authorization"].split(" ", 1)[1]
    checked = 0
    for op in sorted(OPERATIONS, key=lambda op: ORDER[op.method]):
        if TOKEN_ROLES.isdisjoint(op.roles):
            continue  # open and vendor-signed operations: see the tests below
        path = _path(op, values)
        allowed = _declared(op, role)
        if op.credentials is Credentials.FIRST_MESSAGE:
            verdict = await _socket_verdict(client, path, token)
            assert verdict == ("open" if allowed else "forbidden"), (role, op.operation_id)
        else:
            answer = await client.request(op.method, path, headers=headers)
            if allowed:
                assert answer.status not in (401, 403), (role, op.operation_id, answer.status)
            else:
                assert answer.status == 403, (role, op.operation_id, answer.status)
                problem = await answer.json()
                assert problem["title"] == "Forbidden"
        checked += 1
    assert checked >= 20  # the walk covered the table, not a slice of it


async def test_token_operations_without_a_token_are_401(
    client: AppClient, token_for: TokenFactory
) -> None:
    values = await _world(client, token_for)
    for op in OPERATIONS:
        if TOKEN_ROLES.isdisjoint(op.roles) or op.credentials is Credentials.FIRST_MESSAGE:
            continue
        answer = await client.request(op.method, _path(op, values))
        assert answer.status == 401, (op.operation_id, answer.status)
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")


async def test_open_operations_ask_for_nothing_and_signed_ones_want_the_signature(
    client: AppClient, token_for: TokenFactory
) -> None:
    values = await _world(client, token_for)
    admin = await token_for("admin")
    kinds = set()
    for op in OPERATIONS:
        if op.roles == (OPEN,):
            answer = await client.request(op.method, _path(op, values))
            assert answer.status not in (401, 403), (op.operation_id, answer.status)
            kinds.add(OPEN)
        elif op.roles[0] in (TWILIO_SIGNED, JAMBONZ_SIGNED, MAILGUN_SIGNED):
            # even an admin token is not the vendor's signature
            answer = await client.request(op.method, _path(op, values), headers=admin)
            assert answer.status in (401, 403), (op.operation_id, answer.status)
            kinds.add(op.roles[0])
    assert kinds == {OPEN, TWILIO_SIGNED, JAMBONZ_SIGNED, MAILGUN_SIGNED}


def test_every_role_string_in_the_table_is_known() -> None:
    known = TOKEN_ROLES | {OPEN, TWILIO_SIGNED, JAMBONZ_SIGNED, MAILGUN_SIGNED}
    for op in OPERATIONS:
        assert op.roles and set(op.roles) <= known, op.operation_id
        if set(op.roles) & {OPEN, TWILIO_SIGNED, JAMBONZ_SIGNED, MAILGUN_SIGNED}:
            assert len(op.roles) == 1, f"{op.operation_id}: open or signed is the only role"
