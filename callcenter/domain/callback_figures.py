"""What a committed change of a callback means for its figures: the outcomes counted in
`callbacks_total` and the wait until an agent accepted it. Pure."""

from __future__ import annotations

from callcenter.domain.callbacks import final_outcome
from callcenter.domain.calls import Call, Callback, CallState, DialOutcome, DialState


def counted_outcomes(before: Call | None, after: Call) -> list[str]:
    """`requested` for a new callback, `answered` when the customer picks up, `retried`
    when an attempt went unanswered, the final outcome of one that ended unanswered."""
    was = before.callback if before is not None else None
    found = [] if was is not None else ["requested"]
    if _newly_answered(was, after):
        found.append(str(DialOutcome.ANSWERED))
    moved = _moved(before, after) if before is not None else None
    if moved is not None:
        found.append(moved)
    return found


def accepted_wait(before: Call | None, after: Call) -> float | None:
    """Seconds from the callback's place in line to the accept that started an attempt,
    when this change started one."""
    dial = after.callback.dial if after.callback else None
    old = before.callback.dial if before is not None and before.callback else None
    if dial is None or (old is not None and old.id == dial.id):
        return None
    place = after.queued_at or after.created_at
    return max(0.0, (dial.created_at - place).total_seconds())


def _moved(before: Call, after: Call) -> str | None:
    if before.state is after.state:
        return None
    if before.state is CallState.CONNECTED and after.state is CallState.QUEUED:
        return "retried"
    if after.state is not CallState.ENDED:
        return None
    outcome = final_outcome(after)
    return None if outcome == DialOutcome.ANSWERED else outcome


def _newly_answered(was: Callback | None, after: Call) -> bool:
    dial = after.callback.dial if after.callback else None
    if dial is None or dial.state is not DialState.ANSWERED:
        return False
    old = was.dial if was is not None else None
    return old is None or old.state is not DialState.ANSWERED
