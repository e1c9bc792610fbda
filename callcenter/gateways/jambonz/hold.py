"""The jambonz verbs that keep a caller waiting for an agent, and the one that ends a call.

A turn of the hold plays the hold music once (or is 20 s of silence), then `redirect`s to
our hold hook for the next turn; a REST call update (gateways.jambonz.rest) interrupts it
when an agent accepts. Verb and field names as jambonz's verb specifications give them
(`play.url`, `pause.length`, `redirect.actionHook`)."""

from __future__ import annotations

HOLD_PAUSE_SECONDS = 20


def hold_verbs(
    next_turn_url: str, *, music_url: str | None, pause_seconds: int = HOLD_PAUSE_SECONDS
) -> list[dict[str, object]]:
    """One turn of the hold, then a POST to `next_turn_url` for the next one."""
    turn: list[dict[str, object]]
    if music_url:
        turn = [{"verb": "play", "url": music_url}]
    else:
        # `pause` alone would leave an unanswered caller ringing (jambonz answers only for
        # verbs that need media) until the carrier gives up; `answer` is a no-op once up
        turn = [{"verb": "answer"}, {"verb": "pause", "length": pause_seconds}]
    hook = {"url": next_turn_url, "method": "POST"}
    redirect: dict[str, object] = {"verb": "redirect", "actionHook": hook}
    return [*turn, redirect]


def hangup_verbs() -> list[dict[str, object]]:
    """End the call: the conversation is over, or the call is over for us."""
    return [{"verb": "hangup"}]
