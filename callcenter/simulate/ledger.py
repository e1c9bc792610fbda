"""What the simulator saw, call by call and conversation by conversation: placed (or
opened), offered and answered by whom, hung up, called back or resolved, what each agent
held (holdings.py), and every routing error it caught. Plain state; times (seconds since
the run began) are passed in."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from callcenter.simulate.holdings import Holdings
from callcenter.simulate.text_traffic import TextPlan
from callcenter.simulate.traffic import CallPlan


class Outcome(StrEnum):
    SERVED = "served"
    ABANDONED = "abandoned"
    FAILED = "failed"  # a callback nobody answered, attempt after attempt
    CANCELED = "canceled"  # a callback canceled when the run stopped


# the outcome the server gives a call that ended so (calls_total's label)
SERVER_OUTCOMES = {
    Outcome.SERVED: "handled",
    Outcome.ABANDONED: "abandoned",
    Outcome.FAILED: "failed",
    Outcome.CANCELED: "abandoned",  # DELETE /v1/callbacks/{id}: the customer gave up
}


@dataclass(slots=True)
class CallbackAttempt:
    """One dial of a callback: whom the server bridged it to, and how the customer took it
    (the leg's Twilio status: in-progress, busy, no-answer; None: no word yet)."""

    agent: str | None
    dialled_at: float
    answer: str | None = None


@dataclass(slots=True)
class CallRecord:
    plan: CallPlan
    placed_at: float | None = None
    offered_at: float | None = None  # the offer reached the agent who accepted it
    accepted_by: str | None = None  # the agent bot whose accept the server took
    dialed_agent: str | None = None  # whom the server told the gateway to connect
    connected_at: float | None = None  # the gateway connected the caller to an agent
    hung_up_at: float | None = None
    agent_free_at: float | None = None  # the agent who had it finished its wrap-up
    outcome: Outcome | None = None
    spoke: bool = False  # the caller's audio was streamed
    alerts: list[str] = field(default_factory=list)  # alert rules that fired on the call
    offers: list[tuple[float, str]] = field(default_factory=list)  # (decided at, agent)
    accepts: list[str] = field(default_factory=list)  # every agent whose accept was taken
    arrival_estimate: float | None = None  # the server's estimated wait, read at arrival
    arrival_state: str | None = None  # the call's state then (None: not read)
    callback_taken_at: float | None = None  # the caller took a callback and hung up
    callback_attempts: list[CallbackAttempt] = field(default_factory=list)

    @property
    def callback(self) -> bool:
        return self.callback_taken_at is not None

    @property
    def wait_seconds(self) -> float | None:
        """As the caller lived it: placing the call to an agent (or to hanging up)."""
        if self.placed_at is None:
            return None
        end = self.connected_at if self.connected_at is not None else self.hung_up_at
        return None if end is None else max(0.0, end - self.placed_at)

    @property
    def talk_seconds(self) -> float | None:
        if self.connected_at is None or self.hung_up_at is None:
            return None
        return max(0.0, self.hung_up_at - self.connected_at)


@dataclass(slots=True)
class TextRecord:
    """One text conversation: the customer's side (opened, messages taken, left) and the
    agents' (offers, the accept the server took, replies taken, resolved)."""

    plan: TextPlan
    task_id: str | None = None  # the server's, once it answered the opening
    opened_at: float | None = None  # the customer's POST /v1/tasks was sent
    offers: list[tuple[float, str]] = field(default_factory=list)  # (decided at, agent)
    accepted_by: str | None = None  # the agent whose accept the server took
    accepted_at: float | None = None
    customer_messages: list[float] = field(default_factory=list)  # when each was taken
    replies: list[float] = field(default_factory=list)  # the agent's replies taken
    replies_seen: list[float] = field(default_factory=list)  # ... in the chat window
    leaving_at: float | None = None  # the customer left (patience, or the run stopped)
    left_at_stop: bool = False  # ... because the run stopped
    closed_at: float | None = None  # a resolve was taken: the conversation is over
    closed_by: str | None = None  # agent | customer
    late_messages: int = 0  # the customer wrote after it was over (refused)
    alerts: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str | None:
        """As the server must count it: handled when an agent was working it."""
        if self.closed_at is None:
            return None
        return "handled" if self.accepted_by is not None else "abandoned"

    @property
    def wait_seconds(self) -> float | None:
        """Opening the conversation to an agent's accept."""
        if self.opened_at is None or self.accepted_at is None:
            return None
        return max(0.0, self.accepted_at - self.opened_at)

    @property
    def first_response_seconds(self) -> float | None:
        """The customer's first message to the agent's first reply."""
        if not self.customer_messages or not self.replies:
            return None
        return max(0.0, self.replies[0] - self.customer_messages[0])


@dataclass(slots=True)
class Ledger:
    calls: dict[str, CallRecord] = field(default_factory=dict)
    routing_errors: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # requests the server refused
    # events the gateway delivered, by (type, result); result "sent" where the dialect's
    # answer does not say (Twilio webhooks answer TwiML or 204)
    events: Counter[tuple[str, str]] = field(default_factory=Counter)
    # harmless races and refusals worth showing: offers lost to a hang-up, late dials, ...
    notes: Counter[str] = field(default_factory=Counter)
    alerts: Counter[str] = field(default_factory=Counter)  # by rule
    unknown_alerts: int = 0  # alerts on calls this run did not place (or not yet known)
    texts: dict[str, TextRecord] = field(default_factory=dict)  # by plan key
    text_ids: dict[str, TextRecord] = field(default_factory=dict)  # by the server's id
    holdings: Holdings = field(default_factory=Holdings)
    _pending_alerts: dict[str, list[str]] = field(default_factory=dict)

    def add(self, plan: CallPlan) -> CallRecord:
        record = CallRecord(plan)
        self.calls[plan.call_sid] = record
        return record

    def record(self, call_id: str) -> CallRecord | None:
        return self.calls.get(call_id)

    def add_text(self, plan: TextPlan) -> TextRecord:
        record = TextRecord(plan)
        self.texts[plan.key] = record
        return record

    def text_opened(self, record: TextRecord, task_id: str) -> None:
        """The server named the task: alerts that came before its answer are its own."""
        record.task_id = task_id
        self.text_ids[task_id] = record
        for rule in self._pending_alerts.pop(task_id, []):
            self.unknown_alerts -= 1
            record.alerts.append(rule)
            self.alerts[rule] += 1

    def text(self, task_id: str) -> TextRecord | None:
        return self.text_ids.get(task_id)

    def opened(self) -> list[TextRecord]:
        return [r for r in self.texts.values() if r.task_id is not None]

    def routing_error(self, message: str) -> None:
        self.routing_errors.append(message)

    def alert(self, call_id: str, rule: str) -> None:
        record: CallRecord | TextRecord | None = self.calls.get(call_id) or self.text(call_id)
        if record is None:
            self.unknown_alerts += 1
            self._pending_alerts.setdefault(call_id, []).append(rule)
            return
        record.alerts.append(rule)
        self.alerts[rule] += 1

    def placed(self) -> list[CallRecord]:
        return [r for r in self.calls.values() if r.placed_at is not None]

    def live(self) -> dict[str, int]:
        """How many calls are in each phase right now."""
        counts = Counter[str]()
        for record in self.calls.values():
            if record.placed_at is None:
                continue
            if record.outcome is not None:
                counts[str(record.outcome)] += 1
            elif record.connected_at is not None:
                counts["talking"] += 1
            elif record.callback:
                counts["callback"] += 1
            else:
                counts["waiting"] += 1
            counts["placed"] += 1
        return dict(counts)
