"""The application is assembled once: each repository is built one time, and the speech
context uses the very repositories the services use (a second CallRepository would miss
the change hook that puts committed changes on the live pages)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from callcenter.app import create_app
from callcenter.settings import Settings
from callcenter.storage.calls import CallRepository
from callcenter.storage.transcripts import TranscriptRepository
from callcenter.web.state import BUS, SERVICES
from tests.bus_events import BusEvents
from tests.conftest import AppClient


async def test_each_repository_is_built_once(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[type] = []
    for kind in (CallRepository, TranscriptRepository):
        original = kind.__init__

        def counting(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> None:
            built.append(type(self))
            _original(self, *args, **kwargs)

        monkeypatch.setattr(kind, "__init__", counting)
    client = await aiohttp_client(create_app(settings))
    assert built.count(CallRepository) == 1 and built.count(TranscriptRepository) == 1
    # the one CallRepository was made with the live feed as its change hook: a change
    # committed through it reaches the bus
    listener = BusEvents(client.app[BUS])
    token, _ = await client.app[SERVICES].auth.create_token("admin", "test")
    created = {"type": "call.created", "event_id": "k1-c", "call_id": "k1", "from": "+15550100"}
    posted = await client.post(
        "/v1/events", json=created, headers={"Authorization": f"Bearer {token}"}
    )
    assert posted.status == 200
    async with asyncio.timeout(5):
        while (header := (await listener.get())[0]).type != "call.updated":
            pass
    assert header.call_id == "k1"
