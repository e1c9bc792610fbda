"""Listening to conversations: each customer message is scored by the same sentiment
scorer as speech, the customer's rolling mood is worked out from the conversation so far,
and the alert rules (mood runs, phrases) apply as they do to calls.

Messages of one conversation may reach any instance, so nothing is kept in memory: the
mood and the alert state are replayed from the stored messages (the newest
`MESSAGES_REPLAYED`) every time; an alert fires once per task and rule (claimed in Redis)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from callcenter.domain.alerts import AlertRule, CallAlerts, Trigger
from callcenter.domain.calls import Call
from callcenter.domain.messages import Author, Message
from callcenter.domain.mood import Mood, Utterance, call_mood
from callcenter.services.alert_raiser import AlertRaiser
from callcenter.services.bus import EventBus
from callcenter.services.live_events import MoodChanged
from callcenter.services.rules_source import RulesSource
from callcenter.speech.sentiment import SentimentScorer
from callcenter.storage.conversations import ConversationStore
from callcenter.storage.moods import CallMoodRepository, LiveMoodRepository

MESSAGES_REPLAYED = 50
WORDS_PER_SECOND = 2.5
SPEAKER = "caller"  # a customer's message counts as the caller's speech


class TextMonitor:
    def __init__(
        self,
        scorer: SentimentScorer,
        conversations: ConversationStore,
        bus: EventBus,
        *,
        moods: CallMoodRepository,
        live_moods: LiveMoodRepository,
        rules: RulesSource,
        alerts: AlertRaiser,
    ) -> None:
        self._scorer = scorer
        self._conversations = conversations
        self._bus = bus
        self._moods = moods
        self._live_moods = live_moods
        self._rules = rules
        self._alerts = alerts

    def score(self, text: str) -> tuple[float, str]:
        scored = self._scorer.score(text)
        return round(scored.score, 3), str(scored.label)

    async def customer_wrote(self, task: Call, message: Message) -> None:
        """Update the task's mood with `message` (already stored) and raise any alert."""
        stored = await self._conversations.messages(task.id, MESSAGES_REPLAYED)
        said = [m for m in stored if m.author is Author.CUSTOMER and m.sentiment is not None]
        if not any(m.id == message.id for m in said):
            said.append(message)  # not visible yet (read before its commit): count it
        mood, final, triggers = replay(said, self._rules.current.alerts, task.created_at)
        await self._live_moods.set(task.id, mood)
        if final is not None:
            await self._moods.set_final(task.id, final)
        await self._bus.publish(MoodChanged(data=mood, call_id=task.id, queue=task.queue))
        for trigger in triggers:
            await self._alerts.raise_alert(task.id, trigger)


def replay(
    said: list[Message], rules: Sequence[AlertRule], since: datetime
) -> tuple[Mood, float | None, list[Trigger]]:
    """The customer's mood after the last of `said`, the conversation's final sentiment
    so far, and the alert triggers the last message fires (earlier ones fired before).
    A message weighs as long as it would take to say (about 2.5 words a second)."""
    alerts = CallAlerts(rules)
    utterances: list[Utterance] = []
    triggers: list[Trigger] = []
    for m in said:
        start = max(0.0, (m.at - since).total_seconds())
        spoken = max(1.0, len(m.body.split()) / WORDS_PER_SECOND)
        utterances.append(Utterance(SPEAKER, start, start + spoken, m.sentiment or 0.0))
        mood = call_mood(utterances).mood(SPEAKER)
        triggers = alerts.on_utterance(SPEAKER, m.body, mood.score)
    moods = call_mood(utterances)
    return moods.mood(SPEAKER), moods.final_sentiment(), triggers
