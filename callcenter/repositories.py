"""Every repository of the application, built once around one document store and handed
to the services (app.py) and the speech context (speech_setup.py). Part of assembling the
app: no other layer builds a repository."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from callcenter.domain.agents import Agent
from callcenter.domain.calls import Call
from callcenter.settings import Settings
from callcenter.storage.agents import AgentRepository
from callcenter.storage.alerts import AlertRepository
from callcenter.storage.callers import CallerRepository
from callcenter.storage.calls import CallRepository
from callcenter.storage.conversations import ConversationStore
from callcenter.storage.documents import DocumentStore
from callcenter.storage.moods import CallMoodRepository, LiveMoodRepository
from callcenter.storage.queue_activity import QueueActivityRepository
from callcenter.storage.queue_stats import QueueStatsRepository
from callcenter.storage.replay import ReplayGuard
from callcenter.storage.timers import TimerRepository
from callcenter.storage.tokens import TokenRepository
from callcenter.storage.transcripts import TranscriptRepository
from callcenter.storage.waiting_lines import WaitingLinesRepository


@dataclass(frozen=True, slots=True, kw_only=True)
class Repositories:
    calls: CallRepository
    conversations: ConversationStore
    agents: AgentRepository
    callers: CallerRepository
    alerts: AlertRepository
    call_moods: CallMoodRepository
    live_moods: LiveMoodRepository
    transcripts: TranscriptRepository
    queue_stats: QueueStatsRepository
    queue_activity: QueueActivityRepository
    timers: TimerRepository
    tokens: TokenRepository
    replay: ReplayGuard
    waiting_lines: WaitingLinesRepository


class ChangeListener(Protocol):
    """Told of every committed call and agent change (the live feed)."""

    def calls_changed(
        self,
        calls: Sequence[tuple[Call | None, Call]],
        agents: Sequence[tuple[Agent | None, Agent]],
    ) -> None: ...

    def agent_changed(self, before: Agent | None, after: Agent | None) -> None: ...


class FanOutChanges:
    """Tells every listener in turn."""

    def __init__(self, *listeners: ChangeListener) -> None:
        self._listeners = listeners

    def calls_changed(
        self,
        calls: Sequence[tuple[Call | None, Call]],
        agents: Sequence[tuple[Agent | None, Agent]],
    ) -> None:
        for listener in self._listeners:
            listener.calls_changed(calls, agents)

    def agent_changed(self, before: Agent | None, after: Agent | None) -> None:
        for listener in self._listeners:
            listener.agent_changed(before, after)


def build_repositories(
    store: DocumentStore,
    settings: Settings,
    *,
    changes: ChangeListener,
    queue_stats: QueueStatsRepository,
    queue_activity: QueueActivityRepository,
) -> Repositories:
    """One of each repository, with the retention and windows the settings give; the call
    and agent repositories tell `changes` of every commit. `queue_stats` and
    `queue_activity` are made first, for the listener that keeps today's figures and the
    queues' traffic."""
    retention = timedelta(days=settings.call_retention_days)
    client = store.client
    return Repositories(
        calls=CallRepository(
            store,
            retention=retention,
            dedupe_window=timedelta(seconds=settings.dedupe_window_seconds),
            on_change=changes.calls_changed,
        ),
        conversations=ConversationStore(store),
        agents=AgentRepository(store, on_change=changes.agent_changed),
        callers=CallerRepository(store, retention=timedelta(days=settings.history_retention_days)),
        alerts=AlertRepository(client, retention=retention),
        call_moods=CallMoodRepository(client, retention=retention),
        live_moods=LiveMoodRepository(client, retention=retention),
        transcripts=TranscriptRepository(client, retention=retention),
        queue_stats=queue_stats,
        queue_activity=queue_activity,
        timers=TimerRepository(client),
        tokens=TokenRepository(store),
        replay=ReplayGuard(client, ttl_seconds=2 * settings.signature_tolerance_seconds),
        waiting_lines=WaitingLinesRepository(store),
    )
