"""Live audio of an ARI call, as the REST calls it makes: a snoop channel on the leg (what
it says), an externalMedia channel with AudioSocket encapsulation naming a UUID made for
the leg, both in their own mixing bridge; the UUID maps back to the call and track; the
call's end hangs the media channel up and forgets the UUID. Against a loopback server
that records the requests and answers as ARI does."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from callcenter.gateways.asterisk import ari_listen
from callcenter.gateways.asterisk.ari_listen import AriListener, listening_call
from callcenter.gateways.asterisk.ari_rest import AriError, AriRest

Request = tuple[str, str, dict[str, str]]


@pytest.fixture
def refusals() -> list[int]:
    """How many more addChannel requests the server refuses with 422 (the new channels
    not in the application yet)."""
    return [0]


@pytest.fixture
def channels() -> list[dict[str, str]]:
    """What GET /channels lists."""
    return []


@pytest.fixture
async def ari(
    aiohttp_server: AiohttpServer, refusals: list[int], channels: list[dict[str, str]]
) -> AsyncIterator[tuple[AriRest, list[Request]]]:
    seen: list[Request] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append((request.method, request.path, dict(request.query)))
        if request.method == "GET" and request.path == "/ari/channels":
            return web.json_response(channels)
        if request.path.endswith("/addChannel") and refusals[0] > 0:
            refusals[0] -= 1
            return web.json_response({"message": "Channel not in Stasis application"}, status=422)
        if request.method == "POST" and request.path.endswith(("/snoop", "/externalMedia")):
            return web.json_response({"id": request.query.get("snoopId", "x")})
        if (
            request.method == "POST"
            and "/bridges/" in request.path
            and "/" not in (request.path.split("/bridges/", 1)[1])
        ):
            return web.json_response({"id": "b", "bridge_type": "mixing", "channels": []})
        return web.Response(status=204)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    server = await aiohttp_server(app, host="127.0.0.1")
    async with aiohttp.ClientSession() as session:
        yield AriRest(session, f"http://127.0.0.1:{server.port}", "u", "p"), seen


async def test_a_leg_is_snooped_and_sent_to_our_audiosocket(
    ari: tuple[AriRest, list[Request]],
) -> None:
    rest, seen = ari
    listener = AriListener(rest, app="cc", address="10.0.0.5:9092", audio_format="slin16")
    await listener.listen("1796464800.26", "1796464800.26", "caller")
    await listener.listen("1796464800.26", "cc-agent:1796464800.26:ann:1", "agent")

    snoop = seen[0]
    assert snoop[:2] == ("POST", "/ari/channels/1796464800.26/snoop")
    assert snoop[2] == {
        "spy": "in",
        "app": "cc",
        "appArgs": "snoop",
        "snoopId": "cc-snoop:caller:1796464800.26",
    }
    media = seen[1]
    assert media[:2] == ("POST", "/ari/channels/externalMedia")
    leg_uuid = media[2].pop("data")
    assert media[2] == {
        "app": "cc",
        "channelId": "cc-media:caller:1796464800.26",
        "external_host": "10.0.0.5:9092",
        "format": "slin16",
        "encapsulation": "audiosocket",
        "transport": "tcp",
    }
    assert str(uuid.UUID(leg_uuid)) == leg_uuid
    assert await listener.alias(leg_uuid.upper()) == ("1796464800.26", "caller")
    add = next(r for r in seen if r[1].endswith("/addChannel"))
    assert add[2] == {"channel": "cc-snoop:caller:1796464800.26,cc-media:caller:1796464800.26"}
    agent_media = [r for r in seen if r[1] == "/ari/channels/externalMedia"][1]
    assert await listener.alias(agent_media[2]["data"]) == ("1796464800.26", "agent")
    assert listening_call("cc-media:agent:1796464800.26") == "1796464800.26"
    assert listening_call("1796464800.26") is None

    seen.clear()
    await listener.stop("1796464800.26")
    hung_up = [r[1] for r in seen if r[0] == "DELETE" and "/channels/" in r[1]]
    assert hung_up == [
        "/ari/channels/cc-media:caller:1796464800.26",
        "/ari/channels/cc-media:agent:1796464800.26",
    ]
    assert await listener.alias(leg_uuid) is None


async def test_channels_not_in_the_application_yet_are_bridged_once_they_are(
    ari: tuple[AriRest, list[Request]], refusals: list[int]
) -> None:
    """Asterisk answers the snoop and externalMedia requests before their channels enter
    the application, and refuses them in a bridge until then."""
    rest, seen = ari
    refusals[0] = 3
    listener = AriListener(rest, app="cc", address="10.0.0.5:9092", audio_format="slin16")
    await listener.listen("c1", "c1", "caller")
    adds = [r for r in seen if r[1].endswith("/addChannel")]
    assert len(adds) == 4 and refusals == [0]


async def test_channels_that_never_enter_the_application_are_an_error(
    ari: tuple[AriRest, list[Request]], refusals: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    rest, seen = ari
    refusals[0] = 1000
    monkeypatch.setattr(ari_listen, "_STASIS_ATTEMPTS", 3)
    listener = AriListener(rest, app="cc", address="10.0.0.5:9092", audio_format="slin16")
    with pytest.raises(AriError) as caught:
        await listener.listen("c1", "c1", "caller")
    assert caught.value.status == 422
    assert len([r for r in seen if r[1].endswith("/addChannel")]) == 3


async def test_a_leg_uuid_this_instance_forgot_is_found_among_asterisks_channels(
    ari: tuple[AriRest, list[Request]], channels: list[dict[str, str]]
) -> None:
    """A restarted instance: Asterisk reconnects a leg it was listening to before, and the
    external media channel named after the UUID tells whose leg it is."""
    rest, seen = ari
    leg = str(uuid.uuid4())
    channels += [
        {"id": "1796464800.26", "name": f"PJSIP/trunk-{leg}"},  # not ours: no such prefix
        {"id": "cc-media:agent:1796464800.26", "name": f"AudioSocket/10.0.0.5:9092-{leg}"},
    ]
    listener = AriListener(rest, app="cc", address="10.0.0.5:9092", audio_format="slin16")
    assert await listener.alias(leg.upper()) == ("1796464800.26", "agent")
    assert await listener.alias(leg) == ("1796464800.26", "agent")
    assert len([r for r in seen if r[:2] == ("GET", "/ari/channels")]) == 1  # then kept
    assert await listener.alias(str(uuid.uuid4())) is None


async def test_connections_naming_unknown_uuids_share_one_channel_listing(
    ari: tuple[AriRest, list[Request]],
) -> None:
    """Twenty at once (a restarted instance's legs reconnecting, or a flood of bogus
    UUIDs): Asterisk lists its channels once for them all."""
    rest, seen = ari
    listener = AriListener(rest, app="cc", address="10.0.0.5:9092", audio_format="slin16")
    found = await asyncio.gather(*(listener.alias(str(uuid.uuid4())) for _ in range(20)))
    assert found == [None] * 20
    assert len([r for r in seen if r[:2] == ("GET", "/ari/channels")]) == 1
