"""POST /v1/admin/tokens: admins issue tokens that work at once; others may not."""

from __future__ import annotations

from tests.conftest import AppClient, TokenFactory


async def test_an_issued_agent_token_works_at_once(
    client: AppClient, admin: dict[str, str]
) -> None:
    await client.put("/v1/agents/ann", json={"name": "Ann", "skills": {}}, headers=admin)
    response = await client.post(
        "/v1/admin/tokens",
        json={"role": "agent:ann", "label": "desk", "ttl_seconds": 3600},
        headers=admin,
    )
    assert response.status == 201, await response.text()
    issued = await response.json()
    assert issued["role"] == "agent:ann" and issued["expires_at"] is not None
    own = {"Authorization": f"Bearer {issued['token']}"}
    assert (await client.get("/v1/agents/ann", headers=own)).status == 200
    assert (await client.get("/v1/calls", headers=own)).status == 403


async def test_only_admins_issue_tokens_and_bad_roles_are_refused(
    client: AppClient, admin: dict[str, str], token_for: TokenFactory
) -> None:
    supervisor = await token_for("supervisor")
    refused = await client.post(
        "/v1/admin/tokens", json={"role": "admin", "label": "x"}, headers=supervisor
    )
    assert refused.status == 403
    bad = await client.post("/v1/admin/tokens", json={"role": "king", "label": "x"}, headers=admin)
    assert bad.status == 422
    problem = await bad.json(content_type=None)
    assert problem["pointer"] == "/role" and "admin, supervisor, gateway" in problem["detail"]
    short = await client.post(
        "/v1/admin/tokens", json={"role": "gateway", "label": "x", "ttl_seconds": 5}, headers=admin
    )
    assert short.status == 422
