"""The call monitor inside the whole app on a real Redis: recognised speech becomes
transcript lines, moods and alerts on the bus; alert actions raise a waiting call's
priority and tag the caller; the call's final sentiment and last lines reach the caller's
history whether the call ends before or after its last line."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web

from callcenter.app import create_app
from callcenter.media.frames import AudioFrame, Track
from callcenter.settings import Settings
from callcenter.speech.engines import Final, Partial, Word
from callcenter.web.state import BUS, MEDIA, MONITOR, SERVICES
from tests.bus_events import BusEvents, Probe
from tests.conftest import FIXTURES, AppClient

NUMBER = "+15557654321"


@pytest.fixture
async def app_client(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    settings: Settings,
    redis_client: aioredis.Redis,
) -> AsyncIterator[AppClient]:
    alerting = dataclasses.replace(settings, rules_dir=FIXTURES / "rules" / "alerts")
    yield await aiohttp_client(create_app(alerting))


@pytest.fixture
async def admin_headers(app_client: AppClient) -> dict[str, str]:
    token, _ = await app_client.app[SERVICES].auth.create_token("admin", "t")
    return {"Authorization": f"Bearer {token}"}


def final(text: str, start: float, end: float) -> Final:
    words = text.split()
    step = (end - start) / len(words)
    timed = tuple(
        Word(word, start + i * step, start + (i + 1) * step, 1.0) for i, word in enumerate(words)
    )
    return Final(text, timed, start)


LISTENING = ("transcript.", "call.mood", "alert.")


async def events_until(listener: BusEvents, kind: str, seconds: float = 5) -> list[dict[str, Any]]:
    """Every listening event (transcripts, moods, alerts) up to the first of `kind`."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(seconds):
        while True:
            _, raw = await listener.get()
            event = json.loads(raw)
            if event["type"].startswith(LISTENING):
                seen.append(event)
                if event["type"] == kind:
                    return seen


async def post(client: AppClient, headers: dict[str, str], *events: dict[str, Any]) -> None:
    response = await client.post("/v1/events", json=list(events), headers=headers)
    assert response.status == 200, await response.text()


async def test_an_angry_caller_raises_alerts_priority_and_a_tag(
    app_client: AppClient, admin_headers: dict[str, str]
) -> None:
    app = app_client.app
    await post(
        app_client,
        admin_headers,
        {"type": "call.created", "event_id": "e1", "call_id": "angry", "from": NUMBER},
    )
    listener = BusEvents(app[BUS])
    monitor = app[MONITOR]
    monitor.open_leg("angry", Track.CALLER, 8000)
    monitor.on_result("angry", Track.CALLER, Partial("i want", 0.5))
    monitor.on_result("angry", Track.CALLER, Partial("i want", 0.7))  # unchanged: not sent
    line = "this is terrible i want to cancel my account"
    monitor.on_result("angry", Track.CALLER, final(line, 0.4, 4.0))
    seen = await events_until(listener, "alert.raised")
    kinds = [event["type"] for event in seen]
    assert kinds[:3] == ["transcript.partial", "transcript.final", "call.mood"]
    assert seen[0]["data"]["text"] == "i want"
    spoken = seen[1]["data"]
    assert spoken["text"] == line and spoken["speaker"] == "caller"
    assert spoken["label"] == "negative" and spoken["sentiment"] < -0.3
    mood = seen[2]["data"]
    assert mood["speaker"] == "caller" and mood["score"] == pytest.approx(spoken["sentiment"])
    seen += await events_until(listener, "alert.raised")
    alerts = {
        event["data"]["rule"]: event["data"] for event in seen if event["type"] == "alert.raised"
    }
    assert set(alerts) == {"upset", "escalation"}
    assert alerts["escalation"]["reason"] == 'caller said "cancel my account"'
    assert alerts["escalation"]["severity"] == "critical"
    assert alerts["upset"]["caller"] == NUMBER and alerts["upset"]["queue"]
    await monitor.drain()

    call = await (await app_client.get("/v1/calls/angry", headers=admin_headers)).json()
    assert call["state"] == "queued" and call["priority"] == 7  # upset: raise_priority 7
    caller = await (await app_client.get(f"/v1/callers/{NUMBER}", headers=admin_headers)).json()
    assert caller["profile"]["tags"] == ["unhappy"]
    transcript = await (
        await app_client.get("/v1/calls/angry/transcript", headers=admin_headers)
    ).json()
    assert [u["text"] for u in transcript["utterances"]] == [line]
    metrics = await (await app_client.get("/metrics")).text()
    assert 'callcenter_alerts_total{kind="keyword"} 1.0' in metrics
    assert 'callcenter_alerts_total{kind="mood"} 1.0' in metrics

    # the same rule never fires twice on a call
    monitor.on_result("angry", Track.CALLER, final("cancel my account now", 5.0, 6.0))
    await monitor.drain()
    recent = await (
        await app_client.get("/v1/calls/angry/transcript", headers=admin_headers)
    ).json()
    assert len(recent["utterances"]) == 2
    alerts_after = [e for e in await drain_events(listener, app) if e["type"] == "alert.raised"]
    assert alerts_after == []


async def drain_events(listener: BusEvents, app: web.Application) -> list[dict[str, Any]]:
    """Every event the monitor has published once it is idle: the bus delivers in order,
    so once a marker published after that arrives, everything before it has."""
    await app[MONITOR].drain()
    await app[BUS].publish(Probe(data={"marker": True}))
    seen = []
    async with asyncio.timeout(5):
        while (event := json.loads((await listener.get())[1]))["type"] != "test.probe":
            seen.append(event)
    return seen


@pytest.mark.parametrize("ends_first", [True, False])
async def test_the_final_sentiment_reaches_the_callers_history(
    app_client: AppClient, admin_headers: dict[str, str], ends_first: bool
) -> None:
    monitor = app_client.app[MONITOR]
    await post(
        app_client,
        admin_headers,
        {"type": "call.created", "event_id": "f1", "call_id": "f", "from": NUMBER},
        {"type": "call.answered", "event_id": "f2", "call_id": "f", "agent_id": "a1"},
    )
    monitor.open_leg("f", Track.CALLER, 8000)
    monitor.on_result("f", Track.CALLER, final("thank you so much that is great", 0.0, 3.0))
    await monitor.drain()
    ended = {"type": "call.ended", "event_id": "f3", "call_id": "f"}
    if ends_first:
        await post(app_client, admin_headers, ended)
    monitor.on_result("f", Track.CALLER, final("this is awful and useless", 4.0, 9.0))
    monitor.close_leg("f", Track.CALLER)
    await monitor.drain()
    if not ends_first:
        await post(app_client, admin_headers, ended)
    history = (await (await app_client.get(f"/v1/callers/{NUMBER}", headers=admin_headers)).json())[
        "history"
    ]
    final_mood = history["recent"][0]["sentiment"]
    assert final_mood is not None and final_mood < 0  # the call ended angry
    assert history["last_sentiment"] == final_mood
    assert history["sentiment_ewma"] == pytest.approx(final_mood)
    # its last lines, for the next agent's pop
    assert history["recent"][0]["excerpt"] == [
        "caller: thank you so much that is great",
        "caller: this is awful and useless",
    ]


async def test_dead_air_after_speech_raises_a_silence_alert(
    app_client: AppClient, admin_headers: dict[str, str]
) -> None:
    app = app_client.app
    listener = BusEvents(app[BUS])
    hub = app[MEDIA]
    hub.open_leg("quiet", Track.CALLER, 8000)
    loud = b"\x00\x40" * 160  # 20 ms at about -6 dBFS
    hush = b"\x00\x00" * 160
    sequence = 0
    for pcm in [loud] * 25 + [hush] * 140:  # 0.5 s of voice, then 2.8 s of silence
        hub.frame(AudioFrame("quiet", Track.CALLER, 8000, pcm, sequence))
        sequence += 1
    assert [e for e in await drain_events(listener, app) if e["type"] == "alert.raised"] == []
    for pcm in [hush] * 15:  # past 3 s
        hub.frame(AudioFrame("quiet", Track.CALLER, 8000, pcm, sequence))
        sequence += 1
    seen = await events_until(listener, "alert.raised")
    alert = seen[-1]["data"]
    assert alert["rule"] == "dead-air" and alert["kind"] == "silence"
    assert alert["reason"] == "silence for 3 s"
    hub.close_leg("quiet", Track.CALLER)
    await app[MONITOR].drain()
    assert app[MONITOR].calls_watched == 0
