"""jambonz live call control as the application is assembled (gateway_setup): settings
that would fail every redirect or dial stop the start naming the variable; without the
public URL jambonz must reach our hooks at, call control is off with a warning."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from callcenter.app import create_app
from callcenter.app_keys import NOTIFIER
from callcenter.errors import SettingError
from callcenter.services.notify import NoNotifier
from callcenter.settings import Secret, Settings
from callcenter.web.state import SERVICES
from tests.conftest import AppClient
from tests.gateways.jambonz_rest_fake import FakeJambonzApi
from tests.web.test_jambonz_control_api import (
    ACCOUNT_SID,
    API_KEY,
    CALL_SID,
    LIVE_CALL,
    NEW_CALL,
    Jambonz,
    configured,
)


@pytest.fixture
async def jambonz() -> AsyncIterator[FakeJambonzApi]:
    async with FakeJambonzApi(ACCOUNT_SID, API_KEY) as fake:
        fake.add_call(CALL_SID)
        yield fake


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        ({"jambonz_account_sid": "AC" + "0" * 32}, "CALLCENTER_JAMBONZ_ACCOUNT_SID"),
        ({"jambonz_api_key": Secret("")}, "CALLCENTER_JAMBONZ_API_KEY"),
        ({"jambonz_api_url": "https://api.example.com/?x=1"}, "CALLCENTER_JAMBONZ_API_URL"),
        (
            {"jambonz_agent_dial_template": "client:{agent_id}"},
            "CALLCENTER_JAMBONZ_AGENT_DIAL_TEMPLATE",
        ),
        (
            {"jambonz_agent_dial_template": "sip:{agent}@pbx"},
            "CALLCENTER_JAMBONZ_AGENT_DIAL_TEMPLATE",
        ),
        ({"jambonz_agent_ring_seconds": 601}, "CALLCENTER_JAMBONZ_AGENT_RING_SECONDS"),
    ],
)
async def test_unusable_control_settings_stop_the_start_naming_the_variable(
    settings: Settings,
    jambonz: FakeJambonzApi,
    redis_client: aioredis.Redis,
    changes: dict[str, Any],
    variable: str,
) -> None:
    # a bare server: a test client whose server never started would leak its session
    server = TestServer(create_app(configured(settings, jambonz.url, **changes)))
    with pytest.raises(SettingError) as caught:
        await server.start_server()
    await server.close()
    assert caught.value.name == variable
    assert API_KEY not in str(caught.value)


async def test_without_a_public_url_control_is_off_with_a_warning(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    jambonz: FakeJambonzApi,
    redis_client: aioredis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    client = await aiohttp_client(create_app(configured(settings, jambonz.url, public_url=None)))
    assert "jambonz call control is off: it needs CALLCENTER_PUBLIC_URL" in caplog.text
    token, _ = await client.app[SERVICES].auth.create_token("admin", "test")
    desk = Jambonz(client, jambonz, {"Authorization": f"Bearer {token}"})
    await desk.agent("ann")
    assert (await desk.post("/gateways/jambonz/status", NEW_CALL)).status == 204
    await desk.accept_offer("ann")
    # the hooks still work, at the address the request came to
    verbs = await desk.verbs(f"/gateways/jambonz/agent-dial?call={CALL_SID}", LIVE_CALL)
    assert verbs[1]["actionHook"]["url"].endswith(f"/gateways/jambonz/dial-action?call={CALL_SID}")
    assert isinstance(client.app[NOTIFIER], NoNotifier)  # nobody would redirect a call
