"""What each agent held, as its bot saw it: every offer it got (a call, a callback or a text
task) from the server's decision until it was released, with how sure we are of the end.

A release is known only within bounds: it may have taken effect as soon as its request was
sent (`ending`) and surely had once the answer came back (`ended`). An offer lost before
the accept (the customer left, the reservation ran out) may have ended at any time since it
began. The routing checks (text_checks.py) call an offer wrong only when it is wrong
whichever way those bounds fall. Plain state; times (seconds since the run began) are
passed in."""

from __future__ import annotations

from dataclasses import dataclass, field

VOICE = "voice"  # the channel of calls and callbacks: one at a time


@dataclass(slots=True)
class Span:
    item: str  # the call's or task's id
    channel: str  # voice | chat | sms | email
    queue: str
    start: float  # the server decided the offer
    ending: float | None = None  # the earliest it may have been released
    ended: float | None = None  # by when it surely was

    def surely_held(self, at: float, slack: float) -> bool:
        """Held at `at` whichever way the bounds fall."""
        return self.start < at - slack and (self.ending is None or self.ending > at + slack)

    def maybe_held(self, at: float, slack: float) -> bool:
        return self.start <= at + slack and (self.ended is None or self.ended >= at - slack)


@dataclass(slots=True)
class Holdings:
    by_agent: dict[str, list[Span]] = field(default_factory=dict)

    def of(self, agent: str) -> list[Span]:
        return self.by_agent.get(agent, [])

    def hold(self, agent: str, span: Span) -> None:
        """A new offer; the same item offered again while still held is the same offer."""
        spans = self.by_agent.setdefault(agent, [])
        if not any(s.item == span.item and s.ended is None for s in spans):
            spans.append(span)

    def releasing(self, item: str, at: float) -> None:
        """A request that releases `item` is about to be sent (resolve, wrap-up done)."""
        for span in self._open(item):
            span.ending = at if span.ending is None else min(span.ending, at)

    def released(self, item: str, at: float) -> None:
        """The release was answered (or the item is known to be over)."""
        for span in self._open(item):
            span.ending = at if span.ending is None else span.ending
            span.ended = at

    def lost(self, item: str, at: float) -> None:
        """The offer was gone when the agent took it up: released at some time unknown."""
        for span in self._open(item):
            span.ending = span.start
            span.ended = at

    def on_voice(self, agent: str, item: str | None, since: float, seen: float) -> None:
        """The agent's document says it has held voice `item` (None: nothing) since `since`
        (seen at `seen`): every other voice offer it got before then is over."""
        for span in self.of(agent):
            over = span.channel == VOICE and span.item != item and span.start < since
            if over and span.ended is None:
                span.ending = since if span.ending is None else min(span.ending, since)
                span.ended = seen

    def _open(self, item: str) -> list[Span]:
        return [
            s
            for spans in self.by_agent.values()
            for s in spans
            if s.item == item and s.ended is None
        ]
