"""After a run, the callbacks as the ledger saw them, against what must hold: every dial
was made for the agent whose accept the server took (attempt for attempt), for a caller
who took a callback, within the queue's attempts and after its retry pause; a callback
is served on its answered attempt or fails once every attempt went unanswered; and, in a
queue whose rules take its calls strictly in arrival order, no callback was offered to an
agent while an older live caller of the queue waited without an offer."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from callcenter.simulate.ledger import CallRecord, Ledger, Outcome
from callcenter.simulate.rules_summary import RuledQueue, RulesSummary
from callcenter.simulate.twilio_callbacks import ANSWERED

OLDER_BY = 1.0  # seconds: a caller placed this much earlier reached the server first
SLACK = 0.25  # seconds: offers decided together are one dispatch


def callback_errors(ledger: Ledger, rules: RulesSummary | None) -> list[str]:
    """Every routing error of the run's callbacks."""
    errors: list[str] = []
    for record in ledger.placed():
        if record.callback_attempts or record.callback:
            queue = rules.queue(record.plan.queue) if rules is not None else None
            errors += dial_errors(record, queue)
    return errors + fair_order_errors(ledger.placed(), rules)


def dial_errors(record: CallRecord, queue: RuledQueue | None) -> list[str]:
    """A callback's dials against its accepts and its queue's policy (when known)."""
    sid = record.plan.call_sid
    attempts = record.callback_attempts
    if attempts and not record.callback:
        return [f"{sid}: a callback dialled for a caller who never took one"]
    errors = _accept_errors(record)
    if any(a.answer == ANSWERED for a in attempts[:-1]):
        errors.append(f"{sid}: callback dialled again after the customer answered")
    errors += _outcome_errors(record)
    if queue is not None:
        errors += _policy_errors(record, queue)
    return errors


def _accept_errors(record: CallRecord) -> list[str]:
    """Attempt n dialled for the agent whose accept the server took n-th."""
    sid = record.plan.call_sid
    attempts, accepts = record.callback_attempts, record.accepts
    errors = [
        f"{sid}: callback attempt {n} dialled for {a.agent}, but {accepted} accepted it"
        for n, (a, accepted) in enumerate(zip(attempts, accepts, strict=False), 1)
        if a.agent != accepted
    ]
    if len(attempts) > len(accepts):
        errors.append(f"{sid}: callback dialled {len(attempts)} times, accepted {len(accepts)}")
    over = record.outcome in (Outcome.SERVED, Outcome.FAILED)
    if over and len(accepts) > len(attempts):
        errors.append(f"{sid}: callback accepted by {accepts[-1]} and never dialled")
    return errors


def _outcome_errors(record: CallRecord) -> list[str]:
    sid = record.plan.call_sid
    last = record.callback_attempts[-1] if record.callback_attempts else None
    if record.outcome is Outcome.SERVED and record.callback:
        if last is None or last.answer != ANSWERED:
            return [f"{sid}: callback served, though no attempt was answered"]
        if record.dialed_agent != last.agent:
            return [
                f"{sid}: callback answered for {last.agent}, connected to {record.dialed_agent}"
            ]
    if record.outcome is Outcome.FAILED and last is not None and last.answer == ANSWERED:
        return [f"{sid}: callback failed, though its last attempt was answered"]
    return []


def _policy_errors(record: CallRecord, queue: RuledQueue) -> list[str]:
    sid = record.plan.call_sid
    attempts = record.callback_attempts
    errors = []
    if len(attempts) > queue.callback_max_attempts:
        errors.append(
            f"{sid}: callback dialled {len(attempts)} times, its queue allows "
            f"{queue.callback_max_attempts}"
        )
    if record.outcome is Outcome.FAILED and len(attempts) < queue.callback_max_attempts:
        errors.append(
            f"{sid}: callback given up after {len(attempts)} of "
            f"{queue.callback_max_attempts} attempts"
        )
    for earlier, later in itertools.pairwise(attempts):
        pause = later.dialled_at - earlier.dialled_at
        if pause < queue.callback_retry_seconds:
            errors.append(
                f"{sid}: callback dialled again {pause:.1f} s after an attempt, its queue "
                f"waits {queue.callback_retry_seconds:g} s"
            )
    return errors


def fair_order_errors(records: Sequence[CallRecord], rules: RulesSummary | None) -> list[str]:
    """Callbacks offered while an older live caller of the same queue waited without an
    offer, in the queues whose rules take calls strictly in arrival order."""
    checked = set(fair_order_scope(rules, sorted({r.plan.queue for r in records})))
    return [
        error
        for callback in records
        if callback.callback and callback.plan.queue in checked
        for error in _passed_over(callback, records)
    ]


def _passed_over(callback: CallRecord, records: Sequence[CallRecord]) -> list[str]:
    """The callback's offers made while an older live caller waited without one."""
    taken = callback.callback_taken_at
    assert taken is not None
    peers = [r for r in records if r.plan.queue == callback.plan.queue and _older(r, callback)]
    errors = []
    for at, agent in callback.offers:
        if at < taken:
            continue  # offered while still holding
        passed = next((r for r in peers if waiting_unoffered(r, at)), None)
        if passed is not None:
            errors.append(
                f"{callback.plan.call_sid}: callback offered to {agent} at {at:.1f} s "
                f"while {passed.plan.call_sid}, an older caller, waited without an offer"
            )
    return errors


def fair_order_scope(rules: RulesSummary | None, queues: Sequence[str]) -> tuple[str, ...]:
    """The queues whose callbacks' order is checked."""
    if rules is None:
        return ()
    return tuple(q for q in queues if (ruled := rules.queue(q)) and ruled.in_arrival_order)


def _older(record: CallRecord, than: CallRecord) -> bool:
    if record.placed_at is None or than.placed_at is None:
        return False
    return record.placed_at < than.placed_at - OLDER_BY


def waiting_unoffered(record: CallRecord, at: float) -> bool:
    """Whether a live caller was surely waiting, and surely not offered, at `at`."""
    still_live = record.callback_taken_at is None or record.callback_taken_at > at + SLACK
    on_hold = all(end is None or end > at for end in (record.hung_up_at, record.connected_at)) and (
        record.placed_at is not None and record.placed_at < at
    )
    offered = any(when <= at + SLACK for when, _ in record.offers)
    return still_live and on_hold and not offered
