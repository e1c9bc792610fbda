"""What an agent may reach under an operation that grants it only its own things, against
real calls in Redis (the route-table test covers the HTTP side)."""

from __future__ import annotations

from typing import Any

import pytest

from callcenter.errors import Forbidden, InvalidInput, NotFound
from callcenter.services.access import AgentAccess
from callcenter.web.state import SERVICES
from tests.conftest import AppClient, TokenFactory
from tests.polling import eventually

NUMBER = "+15550001111"


@pytest.fixture
async def offered(client: AppClient, token_for: TokenFactory) -> dict[str, Any]:
    """a1 holds an offer for c1 from NUMBER; a2 holds nothing."""
    admin = await token_for("admin")
    for agent in ("a1", "a2"):
        await client.put(f"/v1/agents/{agent}", json={"name": agent, "skills": {}}, headers=admin)
    await client.post("/v1/agents/a1/presence", json={"presence": "available"}, headers=admin)
    created = {"type": "call.created", "event_id": "c1-c", "call_id": "c1", "from": NUMBER}
    assert (await client.post("/v1/events", json=created, headers=admin)).status == 200

    async def call() -> dict[str, Any]:
        read: dict[str, Any] = await (await client.get("/v1/calls/c1", headers=admin)).json()
        return read

    async def is_offered() -> bool:
        return bool((await call())["state"] == "offered")

    await eventually(is_offered)
    return await call()


def access_of(client: AppClient) -> AgentAccess:
    return client.app[SERVICES].access


async def test_an_agent_reaches_its_own_agent_call_offer_and_caller(
    client: AppClient, offered: dict[str, Any]
) -> None:
    access = access_of(client)
    reservation = offered["reservation"]["id"]
    await access.check("a1", {"agent_id": "a1"})
    await access.check("a1", {"call_id": "c1"})
    await access.check("a1", {"reservation_id": reservation})
    await access.check("a1", {"number": NUMBER})
    await access.check("a1", {"number": " +1 555 000 1111 "})  # the same caller, as typed


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ({"agent_id": "a1"}, "only act on itself"),
        ({"call_id": "c1"}, "only read its own calls"),
        ({"number": NUMBER}, "caller of its own call"),
        ({"alert_id": "x"}, "may not act on a alert_id"),  # no rule: refused
    ],
)
async def test_another_agent_is_refused(
    client: AppClient, offered: dict[str, Any], path: dict[str, str], reason: str
) -> None:
    with pytest.raises(Forbidden, match=reason):
        await access_of(client).check("a2", path)


async def test_another_agents_offer_is_refused_and_unknown_things_are_not_found(
    client: AppClient, offered: dict[str, Any]
) -> None:
    access = access_of(client)
    with pytest.raises(Forbidden, match="offered to"):
        await access.check("a2", {"reservation_id": offered["reservation"]["id"]})
    with pytest.raises(NotFound):
        await access.check("a1", {"call_id": "nope"})
    with pytest.raises(NotFound):
        await access.check("a1", {"reservation_id": "r-nope"})
    with pytest.raises(InvalidInput):
        await access.check("a1", {"number": "   "})
