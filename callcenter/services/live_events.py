"""Every kind of event the bus carries to the live pages, one tagged Struct per kind.

Publishers build these; the bus stamps `at` and encodes them; Redis adds `seq` and `epoch`
in front. On a page an event reads as `{"seq", "epoch", "type", "at", "call_id",
"agent_id", "queue", "data"}` (routing fields present when set), `type` being the tag
below. `decode_live_event` reads one back (the edge forwards the text as published and
reads only the routing fields, `bus.Delivered`, for speed)."""

from __future__ import annotations

import msgspec

from callcenter.domain.agents import Agent
from callcenter.domain.alerts import Ack, Alert
from callcenter.domain.messages import Message
from callcenter.domain.mood import Mood
from callcenter.domain.queue_outlook import QueueOutlookView
from callcenter.domain.transcripts import TranscriptEntry
from callcenter.services.bus import BusEvent
from callcenter.services.live_views import CallView, Offer
from callcenter.storage.queue_stats import QueueDay


class CallUpdated(BusEvent, frozen=True, tag="call.updated"):
    """A committed change of a call (whole, with its version: the higher version wins)."""

    data: CallView


class AgentUpdated(BusEvent, frozen=True, tag="agent.updated"):
    """A committed change of an agent (whole, with its version)."""

    data: Agent


class AgentGone(msgspec.Struct, frozen=True):
    id: str


class AgentRemoved(BusEvent, frozen=True, tag="agent.removed"):
    data: AgentGone


class QueueFigures(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    today: QueueDay


class QueueStats(BusEvent, frozen=True, tag="queue.stats"):
    """Today's figures of one queue, after a call was answered or abandoned."""

    data: QueueFigures


class OutlookBoard(msgspec.Struct, frozen=True, kw_only=True):
    queues: list[QueueOutlookView]


class OutlookUpdated(BusEvent, frozen=True, tag="queue.outlook"):
    """Every queue's outlook (waits, callbacks, staffing), every few seconds while it
    changes, from one instance at a time."""

    data: OutlookBoard


class RouteOffered(BusEvent, frozen=True, tag="route.offered"):
    """The screen pop of an offer, for the agent it is offered to."""

    data: Offer


class AlertRaised(BusEvent, frozen=True, tag="alert.raised"):
    data: Alert


class AlertAcked(BusEvent, frozen=True, tag="alert.acked"):
    data: Ack


class PartialUtterance(msgspec.Struct, frozen=True, kw_only=True):
    speaker: str
    text: str
    offset_s: float


class TranscriptPartial(BusEvent, frozen=True, tag="transcript.partial"):
    """Words so far of an utterance not yet final (replaced by the final)."""

    data: PartialUtterance


class TranscriptFinal(BusEvent, frozen=True, tag="transcript.final"):
    data: TranscriptEntry


class TaskMessage(BusEvent, frozen=True, tag="task.message"):
    """A message in a text task's conversation: for its agent's desktop, the customer's
    chat window and the wallboard."""

    data: Message


class Typing(msgspec.Struct, frozen=True, kw_only=True):
    author: str  # "agent" or "customer"


class TaskTyping(BusEvent, frozen=True, tag="task.typing"):
    """Someone is typing in a chat: the agent (for the customer's window) or the customer
    (for the agent's desk); at most one a second per chat and author."""

    data: Typing


class MoodChanged(BusEvent, frozen=True, tag="call.mood"):
    """The call's rolling mood after an utterance."""

    data: Mood


LiveEvent = (
    CallUpdated
    | AgentUpdated
    | AgentRemoved
    | QueueStats
    | OutlookUpdated
    | RouteOffered
    | AlertRaised
    | AlertAcked
    | TranscriptPartial
    | TranscriptFinal
    | MoodChanged
    | TaskMessage
    | TaskTyping
)
LIVE_EVENT_TYPES: tuple[type[BusEvent], ...] = (
    CallUpdated,
    AgentUpdated,
    AgentRemoved,
    QueueStats,
    OutlookUpdated,
    RouteOffered,
    AlertRaised,
    AlertAcked,
    TranscriptPartial,
    TranscriptFinal,
    MoodChanged,
    TaskMessage,
    TaskTyping,
)
_DECODER = msgspec.json.Decoder(LiveEvent)


def decode_live_event(text: str | bytes) -> LiveEvent:
    """One event as a page receives it (`seq` and `epoch` are ignored); raises
    msgspec.ValidationError or DecodeError."""
    return _DECODER.decode(text)
