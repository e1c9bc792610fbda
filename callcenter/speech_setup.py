"""Speech resources of the application, as a cleanup context: the sentiment scorer and the
transcript store always (transcripts can be read), and, when an engine is configured, the
transcription pool listening to the media hub. Part of assembling the app."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from callcenter.services.transcription import TranscriptionPool
from callcenter.services.transcripts import PoolMetrics, TranscriptService
from callcenter.speech.engines import open_engine
from callcenter.speech.sentiment import load_scorer
from callcenter.storage.transcripts import TranscriptRepository
from callcenter.web.state import MEDIA, METRICS, REDIS, SETTINGS, TRANSCRIPTS

logger = logging.getLogger(__name__)


async def speech(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    scorer = await asyncio.to_thread(load_scorer)
    transcripts = TranscriptService(
        TranscriptRepository(app[REDIS], retention=timedelta(days=settings.call_retention_days)),
        scorer,
        metrics=app[METRICS],
    )
    app[TRANSCRIPTS] = transcripts
    if settings.speech_engine == "off":
        yield
        await transcripts.drain()
        return
    # loading a model takes seconds: off the event loop (EngineUnavailable names what's missing)
    engine = await asyncio.to_thread(open_engine, settings.speech_engine, settings.vosk_model_dir)
    pool = TranscriptionPool(
        engine,
        workers=settings.asr_workers or os.cpu_count() or 1,
        queue_frames=settings.asr_queue_frames,
        on_result=transcripts.on_result,
        observer=PoolMetrics(app[METRICS]),
    )
    hub = app[MEDIA]
    hub.listeners.append(pool)
    logger.info("transcribing live calls with %s", settings.speech_engine)
    yield
    hub.listeners.remove(pool)
    await pool.shutdown(timeout_s=settings.shutdown_timeout_seconds)
    await transcripts.drain()
