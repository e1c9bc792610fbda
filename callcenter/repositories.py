"""Every repository of the application, built once around one document store and handed
to the services (app.py) and the speech context (speech_setup.py). Part of assembling the
app: no other layer builds a repository."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from callcenter.settings import Settings
from callcenter.storage.agents import AgentRepository
from callcenter.storage.alerts import AlertRepository
from callcenter.storage.callers import CallerRepository
from callcenter.storage.calls import CallRepository
from callcenter.storage.documents import DocumentStore
from callcenter.storage.moods import CallMoodRepository, LiveMoodRepository
from callcenter.storage.queue_stats import QueueStatsRepository
from callcenter.storage.replay import ReplayGuard
from callcenter.storage.timers import TimerRepository
from callcenter.storage.tokens import TokenRepository
from callcenter.storage.transcripts import TranscriptRepository


@dataclass(frozen=True, slots=True, kw_only=True)
class Repositories:
    calls: CallRepository
    agents: AgentRepository
    callers: CallerRepository
    alerts: AlertRepository
    call_moods: CallMoodRepository
    live_moods: LiveMoodRepository
    transcripts: TranscriptRepository
    queue_stats: QueueStatsRepository
    timers: TimerRepository
    tokens: TokenRepository
    replay: ReplayGuard


def build_repositories(store: DocumentStore, settings: Settings) -> Repositories:
    """One of each repository, with the retention and windows the settings give."""
    retention = timedelta(days=settings.call_retention_days)
    client = store.client
    return Repositories(
        calls=CallRepository(
            store,
            retention=retention,
            dedupe_window=timedelta(seconds=settings.dedupe_window_seconds),
        ),
        agents=AgentRepository(store),
        callers=CallerRepository(store, retention=timedelta(days=settings.history_retention_days)),
        alerts=AlertRepository(client, retention=retention),
        call_moods=CallMoodRepository(client, retention=retention),
        live_moods=LiveMoodRepository(client, retention=retention),
        transcripts=TranscriptRepository(client, retention=retention),
        queue_stats=QueueStatsRepository(client),
        timers=TimerRepository(client),
        tokens=TokenRepository(store),
        replay=ReplayGuard(client, ttl_seconds=2 * settings.signature_tolerance_seconds),
    )
