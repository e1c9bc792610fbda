"""Callers: normalised keys, CRM profile, and the call history that routing reads."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Annotated

import msgspec

from callcenter.domain.calls import Outcome, Survey

RECENT_CALLS_KEPT = 20
REPEAT_WINDOW = timedelta(days=7)
EXCERPT_LINES = 3  # of a contact's conversation, kept with it in the history
EXCERPT_CHARS = 200
SENTIMENT_EWMA_ALPHA = 0.3

_PUNCTUATION = re.compile(r"[\s\-().]")
_DIGITS = re.compile(r"^\+?[0-9]+$")

Tier = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[a-z0-9_-]+(?!\n)$")]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
FieldName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
# another way to reach the same customer: a phone number, an email address, a chat id
Identity = Annotated[str, msgspec.Meta(min_length=1, max_length=256, pattern=r"\S")]
MAX_IDENTITIES = 20
FieldValue = Annotated[str, msgspec.Meta(max_length=1024)] | int | float | bool


def caller_key(raw: str) -> str:
    """Normalise a caller id: E.164 (`+` and 8-15 digits) when it is a phone number,
    else the trimmed, lower-cased gateway caller id (e.g. "anonymous", a SIP URI).

    "00" international prefixes become "+"; spaces, dashes, dots and brackets are dropped."""
    text = raw.strip()
    compact = _PUNCTUATION.sub("", text)
    if _DIGITS.match(compact):
        if compact.startswith("00"):
            compact = "+" + compact[2:]
        digits = compact.lstrip("+")
        if compact.startswith("+") and 8 <= len(digits) <= 15:
            return "+" + digits
        return compact
    return text.lower()


class CallerProfile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a CRM tells us about a caller. Every field is optional."""

    name: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    tier: Tier | None = None
    tags: Annotated[list[Tag], msgspec.Meta(max_length=64)] = msgspec.field(default_factory=list)
    account: Annotated[dict[FieldName, FieldValue], msgspec.Meta(max_length=64)] = msgspec.field(
        default_factory=dict
    )
    # the customer's other identities (numbers, emails): contacts from any of them count
    # in this record's history (text channels look them up; a call keys by its number)
    identities: Annotated[list[Identity], msgspec.Meta(max_length=MAX_IDENTITIES)] = msgspec.field(
        default_factory=list
    )


class CallSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One finished call, as kept in the caller's history."""

    call_id: str
    at: datetime
    queue: str
    outcome: Outcome
    agent_id: str | None = None
    wait_seconds: float | None = None
    talk_seconds: float | None = None
    sentiment: float | None = None
    survey: Survey | None = None
    # first-contact resolution: a handled call is unresolved once the same customer comes
    # back to the same queue, on any channel, within REPEAT_WINDOW; it counts against this
    # call's queue and agent
    unresolved: bool = False
    disposition: str | None = None  # the agent's wrap-up
    notes: str | None = None
    # a callback's final outcome: answered, busy, no_answer, failed or canceled
    callback: str | None = None
    channel: str = "voice"  # voice, callback, chat, sms or email
    # the conversation's last lines ("customer: …", "agent: …"), so the next agent reads
    # where it stopped
    excerpt: list[str] = msgspec.field(default_factory=list)


class CallerHistory(msgspec.Struct, frozen=True, kw_only=True):
    calls_total: int = 0
    last_call_at: datetime | None = None
    last_agent: str | None = None
    last_queue: str | None = None
    last_outcome: Outcome | None = None
    last_sentiment: float | None = None
    sentiment_ewma: float | None = None
    last_survey: Survey | None = None
    recent: list[CallSummary] = msgspec.field(default_factory=list)
    version: int = 0


def record_call(history: CallerHistory, call: CallSummary) -> CallerHistory:
    """Add a finished call to the history. Recording the same call id twice changes nothing."""
    if _not_new(history, call):
        return history
    ewma = history.sentiment_ewma
    if call.sentiment is not None:
        ewma = _blend(ewma, call.sentiment)
    newest_first = sorted([call, *history.recent], key=lambda item: item.at, reverse=True)
    latest = newest_first[0]
    is_latest = latest is call
    newest_first = mark_unresolved(newest_first)
    return msgspec.structs.replace(
        history,
        calls_total=history.calls_total + 1,
        last_call_at=latest.at,
        last_agent=latest.agent_id if is_latest and latest.agent_id else history.last_agent,
        last_queue=latest.queue,
        last_outcome=latest.outcome,
        last_sentiment=call.sentiment
        if is_latest and call.sentiment is not None
        else history.last_sentiment,
        sentiment_ewma=ewma,
        recent=newest_first[:RECENT_CALLS_KEPT],
    )


def _not_new(history: CallerHistory, call: CallSummary) -> bool:
    """The call is in the history already, or older than everything kept: then it may be
    a re-delivery of a call already counted, and it would not be kept anyway."""
    if any(item.call_id == call.call_id for item in history.recent):
        return True
    return len(history.recent) >= RECENT_CALLS_KEPT and call.at < history.recent[-1].at


def _blend(ewma: float | None, score: float) -> float:
    """The sentiment EWMA with one more score in it (the first score seeds it whole)."""
    if ewma is None:
        return score
    return SENTIMENT_EWMA_ALPHA * score + (1 - SENTIMENT_EWMA_ALPHA) * ewma


def mark_unresolved(
    newest_first: list[CallSummary], window: timedelta = REPEAT_WINDOW
) -> list[CallSummary]:
    """Flag each handled contact followed by another of the same customer to the same queue
    (about the same matter), on any channel, within `window` (the list is one customer's
    contacts, newest first). A flag, once set, stays."""
    marked = list(newest_first)
    for index, item in enumerate(marked):
        if item.unresolved or item.outcome is not Outcome.HANDLED:
            continue
        if any(
            later.queue == item.queue and item.at < later.at <= item.at + window
            for later in marked[:index]
        ):
            marked[index] = msgspec.structs.replace(item, unresolved=True)
    return marked


def newly_unresolved(before: CallerHistory | None, after: CallerHistory) -> list[CallSummary]:
    """The calls `after` flags unresolved that `before` did not (each is counted once)."""
    flagged = {item.call_id for item in before.recent if item.unresolved} if before else set()
    return [item for item in after.recent if item.unresolved and item.call_id not in flagged]


def excerpt_of(lines: Iterable[tuple[str, str]]) -> list[str]:
    """A contact's last lines as its history keeps them ("customer: …", "agent: …"), from
    (who, what) pairs, oldest first: the last EXCERPT_LINES, each cut at EXCERPT_CHARS."""
    return [f"{who}: {text[:EXCERPT_CHARS]}" for who, text in list(lines)[-EXCERPT_LINES:]]


def record_excerpt(history: CallerHistory, call_id: str, excerpt: list[str]) -> CallerHistory:
    """Set a recorded call's last lines (a call's transcript may end after the call).
    Unknown call id, no lines or the same lines: unchanged."""
    index = next((i for i, item in enumerate(history.recent) if item.call_id == call_id), None)
    if index is None or not excerpt or history.recent[index].excerpt == excerpt:
        return history
    recent = list(history.recent)
    recent[index] = msgspec.structs.replace(recent[index], excerpt=excerpt)
    return msgspec.structs.replace(history, recent=recent)


def record_sentiment(history: CallerHistory, call_id: str, score: float) -> CallerHistory:
    """Set a recorded call's sentiment (the call's final mood, known only once its
    transcript is complete). Unknown call id or same score: unchanged. Changing a score
    already counted corrects the EWMA by exactly that call's weight in it."""
    index = next((i for i, item in enumerate(history.recent) if item.call_id == call_id), None)
    if index is None or history.recent[index].sentiment == score:
        return history
    recent = list(history.recent)
    recent[index] = msgspec.structs.replace(recent[index], sentiment=score)
    return msgspec.structs.replace(
        history,
        recent=recent,
        last_sentiment=score if index == 0 else history.last_sentiment,
        sentiment_ewma=_rescored_ewma(history, index, score),
    )


def _rescored_ewma(history: CallerHistory, index: int, score: float) -> float:
    """The EWMA once `history.recent[index]` scores `score`."""
    old = history.recent[index].sentiment
    ewma = history.sentiment_ewma
    if old is None or ewma is None:
        # not counted yet: it joins the EWMA now (call ends and transcripts race)
        return _blend(ewma, score)
    corrected = ewma + _weight_in_ewma(history, index) * (score - old)
    return max(-1.0, min(1.0, corrected))


def _weight_in_ewma(history: CallerHistory, index: int) -> float:
    """The weight of the already counted score of `history.recent[index]` in the EWMA:
    the first score seeds the EWMA whole, every later one enters with weight alpha, and
    each newer score multiplies it by (1 - alpha)."""
    newer_scored = sum(1 for item in history.recent[:index] if item.sentiment is not None)
    older_scored = any(item.sentiment is not None for item in history.recent[index + 1 :])
    seeded_it = not older_scored and history.calls_total == len(history.recent)
    entered_with = 1.0 if seeded_it else SENTIMENT_EWMA_ALPHA
    return entered_with * (1 - SENTIMENT_EWMA_ALPHA) ** newer_scored


def record_wrap_up(
    history: CallerHistory, call_id: str, disposition: str, notes: str
) -> CallerHistory | None:
    """The agent's wrap-up (disposition and notes) on a recorded call; None when the call
    is not in the history (not ended yet, or long gone)."""
    if not any(item.call_id == call_id for item in history.recent):
        return None
    recent = [
        msgspec.structs.replace(item, disposition=disposition, notes=notes)
        if item.call_id == call_id
        else item
        for item in history.recent
    ]
    return msgspec.structs.replace(history, recent=recent)


def record_survey(history: CallerHistory, call_id: str, survey: Survey) -> CallerHistory:
    """Attach survey answers to a recorded call (and keep the newest as `last_survey`)."""
    recent = [
        msgspec.structs.replace(item, survey=survey) if item.call_id == call_id else item
        for item in history.recent
    ]
    return msgspec.structs.replace(history, recent=recent, last_survey=survey)


def repeat_within(
    history: CallerHistory,
    now: datetime,
    window: timedelta = REPEAT_WINDOW,
    *,
    excluding_call: str | None = None,
) -> bool:
    """True if the caller had another call in the `window` before `now`."""
    return any(
        now - window <= item.at <= now and item.call_id != excluding_call for item in history.recent
    )


class CallerView(msgspec.Struct, frozen=True, kw_only=True):
    """What the API (and later the screen pop) shows about a caller."""

    key: str
    profile: CallerProfile
    history: CallerHistory
    repeat_within_7d: bool


def caller_view(
    key: str, profile: CallerProfile | None, history: CallerHistory | None, now: datetime
) -> CallerView:
    history = history or CallerHistory()
    return CallerView(
        key=key,
        profile=profile or CallerProfile(),
        history=history,
        repeat_within_7d=repeat_within(history, now),
    )


HistoryChange = Callable[[CallerHistory], CallerHistory]
