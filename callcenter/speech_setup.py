"""Speech resources of the application, as a cleanup context: the transcript reader and
the call monitor always (transcripts can be read; silence alerts need no recogniser), and,
when an engine is configured, the transcription pool feeding the monitor. Part of
assembling the app."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator

from aiohttp import web

from callcenter.app_keys import REPOSITORIES, SCORER
from callcenter.services.call_monitor import CallMonitor, MonitorStores
from callcenter.services.clock import Clock
from callcenter.services.transcription import TranscriptionPool
from callcenter.services.transcripts import PoolMetrics, TranscriptService
from callcenter.speech.engines import open_engine
from callcenter.speech.sentiment import load_scorer
from callcenter.web.state import (
    BUS,
    CLOCK,
    MEDIA,
    METRICS,
    MONITOR,
    SERVICES,
    SETTINGS,
    TRANSCRIPTS,
)

logger = logging.getLogger(__name__)


async def sentiment_scorer(app: web.Application) -> AsyncIterator[None]:
    """The sentiment scorer, for speech and for text conversations alike (its lexicon and
    model load off the event loop)."""
    app[SCORER] = await asyncio.to_thread(load_scorer)
    yield


async def speech(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    repositories = app[REPOSITORIES]
    app[TRANSCRIPTS] = TranscriptService(repositories.transcripts)
    transcribing = settings.speech_engine != "off"
    scorer = app[SCORER]
    services = app[SERVICES]
    clock: Clock = app[CLOCK]
    monitor = CallMonitor(
        MonitorStores(
            transcripts=repositories.transcripts,
            moods=repositories.call_moods,
            live_moods=repositories.live_moods,
            calls=repositories.calls,
        ),
        scorer,
        app[BUS],
        rules=services.routing.rules,
        alerts=services.alerts,
        callers=services.callers,
        metrics=app[METRICS],
        clock=clock,
        transcribing=transcribing,
    )
    app[MONITOR] = monitor
    hub = app[MEDIA]
    hub.listeners.append(monitor)
    if not transcribing:
        yield
        hub.listeners.remove(monitor)
        await monitor.drain()
        return
    # loading a model takes seconds: off the event loop (EngineUnavailable names what's missing)
    engine = await asyncio.to_thread(
        open_engine,
        settings.speech_engine,
        settings.vosk_model_dir,
        models_dir=settings.models_dir,
        model_name=settings.vosk_model,
    )
    pool = TranscriptionPool(
        engine,
        workers=settings.asr_workers or os.cpu_count() or 1,
        queue_frames=settings.asr_queue_frames,
        on_result=monitor.on_result,
        on_leg_done=monitor.on_leg_done,
        observer=PoolMetrics(app[METRICS]),
    )
    hub.listeners.append(pool)
    logger.info("transcribing live calls with %s", settings.speech_engine)
    yield
    hub.listeners.remove(pool)
    await pool.shutdown(timeout_s=settings.shutdown_timeout_seconds)
    hub.listeners.remove(monitor)
    await monitor.drain()
