"""The API as an admin and the agents use it, for the PBX flow tests (Asterisk, FreeSWITCH):
agents made available, calls polled until a state, offers accepted, metrics read."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from callcenter.domain.calls import Call, Callback, CallState, Dial, DialState
from callcenter.web.state import SERVICES
from tests.conftest import FIXTURES, AppClient

Json = dict[str, Any]


class Desk:
    """The API as an admin and the agents use it."""

    def __init__(self, client: AppClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    async def agent(self, agent_id: str) -> None:
        put = await self.client.put(
            f"/v1/agents/{agent_id}", json={"name": agent_id, "skills": {}}, headers=self.headers
        )
        assert put.status in (200, 201), await put.text()
        answer = await self.client.post(
            f"/v1/agents/{agent_id}/presence", json={"presence": "available"}, headers=self.headers
        )
        assert answer.status == 200, await answer.text()

    async def get(self, path: str) -> Json:
        answer = await self.client.get(path, headers=self.headers)
        assert answer.status == 200, await answer.text()
        found: Json = await answer.json()
        return found

    async def until(self, path: str, done: Callable[[Json], bool], seconds: float = 10) -> Json:
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            answer = await self.client.get(path, headers=self.headers)
            if answer.status == 200:
                value: Json = await answer.json()
                if done(value):
                    return value
            assert asyncio.get_running_loop().time() < deadline, f"{path}: {await answer.text()}"
            await asyncio.sleep(0.05)

    async def accept(self, call_id: str) -> Json:
        offered = await self.until(f"/v1/calls/{call_id}", lambda c: c["state"] == "offered")
        reservation = offered["reservation"]["id"]
        answer = await self.client.post(
            f"/v1/reservations/{reservation}/accept", headers=self.headers
        )
        assert answer.status == 200, await answer.text()
        return offered

    async def callback(self, number: str) -> str:
        """A callback asked for through the API; its call id."""
        body = {"number": number}
        answer = await self.client.post("/v1/callbacks", json=body, headers=self.headers)
        assert answer.status == 201, await answer.text()
        call_id: str = (await answer.json())["call_id"]
        return call_id

    async def metric(self, line: str) -> bool:
        text = await (await self.client.get("/metrics")).text()
        return line in text


async def admin_desk(client: AppClient) -> Desk:
    token, _ = await client.app[SERVICES].auth.create_token("admin", "test")
    return Desk(client, {"Authorization": f"Bearer {token}"})


def callback_rules(folder: Path) -> Path:
    """The callback tests' rules (two attempts, 0.5 s apart), copied under `folder`."""
    rules = folder / "rules"
    shutil.copytree(FIXTURES / "rules" / "callbacks", rules)
    return rules


def callback_call(call_id: str, dial_id: str, number: str, **changes: Any) -> tuple[Call, Dial]:
    """A callback whose attempt `dial_id` is being placed for agent `ann` (for dialers
    driven directly, without the server)."""
    now = datetime.now(UTC)
    dial = Dial(id=dial_id, attempt=1, agent_id="ann", state=DialState.PLACING, created_at=now)
    callback = Callback(number=number, requested_at=now, source="api", attempts=1, dial=dial)
    call = Call(
        id=call_id,
        gateway_call_id=call_id,
        state=CallState.CONNECTED,
        queue="billing",
        created_at=now,
        updated_at=now,
        last_event_at=now,
        agent_id="ann",
        callback=callback,
    )
    return msgspec.structs.replace(call, **changes), dial
