"""The calls a scenario places, planned in advance from its seed: when each arrives, the
queue it dials, who calls (new or repeat caller, tier), what they say (a mood's clip, or
nothing), how long they talk and how long they would wait, whether they take a callback
when one is offered and how they answer each attempt. Pure: the same scenario and seed
give the same plan whatever the server does."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum

from callcenter.simulate.scenario import Poisson, QueueTraffic, Scenario

PLANNED_ATTEMPTS = 10  # callback attempts planned per call: the most a queue allows


class CallbackAnswer(StrEnum):
    """How the customer takes one callback attempt (the leg's Twilio CallStatus)."""

    ANSWERED = "in-progress"
    BUSY = "busy"
    NO_ANSWER = "no-answer"


@dataclass(frozen=True, slots=True)
class CallPlan:
    index: int
    call_sid: str  # Twilio-shaped (CA + 32 hex), unique per run
    at_seconds: float  # arrival, from the start of the run
    queue: str
    dialed: str  # the queue's number
    caller: str  # the calling number
    tier: str
    first_call: bool  # the first call from this number in the run: upsert its profile
    mood: str | None  # None: the caller says nothing (no media stream)
    clip_pick: int  # which of the mood's clips (modulo their number)
    handle_seconds: float  # talk time once an agent answers
    patience_seconds: float | None  # hangs up after waiting this long; None: never
    think_seconds: float  # the agent's time to accept the offer
    wrap_up_seconds: float  # the agent's after-call work
    takes_callback: bool = False  # takes a callback when the hold offers one
    callback_answers: tuple[CallbackAnswer, ...] = ()  # attempt by attempt, if called back


def call_sid(run_id: str, index: int) -> str:
    return "CA" + hashlib.sha256(f"{run_id}:{index}".encode()).hexdigest()[:32]


def caller_number(index: int) -> str:
    return f"+1555{index:07d}"


def _pick(rng: random.Random, weights: Mapping[str, float]) -> str:
    names = [name for name, weight in weights.items() if weight > 0]
    return rng.choices(names, [weights[name] for name in names])[0]


class _Callers:
    """Who calls: a repeat caller with probability `repeat_share` (once anyone has called),
    else someone from the population; each number keeps the tier it was first given."""

    def __init__(self, scenario: Scenario) -> None:
        self._mix = scenario.callers
        self._rng = random.Random(f"{scenario.seed}:callers")
        self._seen: list[str] = []
        self._tiers: dict[str, str] = {}

    def next(self, fixed: str | None = None) -> tuple[str, str, bool]:
        rng = self._rng
        if fixed is not None:
            number = fixed
        elif self._seen and rng.random() < self._mix.repeat_share:
            number = rng.choice(self._seen)
        else:
            number = caller_number(rng.randrange(self._mix.population))
        first = number not in self._tiers
        if first:
            self._tiers[number] = _pick(rng, self._mix.tiers)
            self._seen.append(number)
        return number, self._tiers[number], first


def plan_calls(scenario: Scenario, run_id: str) -> Iterator[CallPlan]:
    """The calls of a run in arrival order; ends with the trace or `duration_seconds`
    (never, for Poisson arrivals without a duration)."""
    arrivals = random.Random(f"{scenario.seed}:arrivals")
    durations = random.Random(f"{scenario.seed}:durations")
    voices = random.Random(f"{scenario.seed}:voices")
    agents = random.Random(f"{scenario.seed}:agents")
    callbacks = random.Random(f"{scenario.seed}:callbacks")
    callers = _Callers(scenario)
    shares = {name: q.share for name, q in scenario.queues.items()}
    limit = scenario.duration_seconds
    for index, (at, queue, handle, patience, fixed_caller, fixed_mood) in enumerate(
        _arrivals(scenario, arrivals, durations, shares)
    ):
        if limit is not None and at > limit:
            return
        number, tier, first = callers.next(fixed_caller)
        mood = fixed_mood
        if fixed_mood is None and not isinstance(scenario.arrivals, Poisson):
            mood = None  # a trace row without a mood is a silent caller
        elif fixed_mood is None and voices.random() < scenario.callers.speaking_share:
            mood = _pick(voices, scenario.callers.moods)
        yield CallPlan(
            index=index,
            call_sid=call_sid(run_id, index),
            at_seconds=at,
            queue=queue.name,
            dialed=queue.number,
            caller=number,
            tier=tier,
            first_call=first,
            mood=mood,
            clip_pick=voices.randrange(1 << 30),
            handle_seconds=handle,
            patience_seconds=patience,
            think_seconds=scenario.think.sample(agents),
            wrap_up_seconds=scenario.wrap_up.sample(agents),
            takes_callback=callbacks.random() < queue.callback_share,
            callback_answers=_callback_answers(callbacks, queue.callback_answer_share),
        )


def _callback_answers(rng: random.Random, answer_share: float) -> tuple[CallbackAnswer, ...]:
    """One draw per planned attempt, whether or not the caller takes a callback, so that
    a share changes nobody else's answers."""
    answers = []
    for _ in range(PLANNED_ATTEMPTS):
        draw = rng.random()
        if draw < answer_share:
            answers.append(CallbackAnswer.ANSWERED)
        elif (draw - answer_share) / (1 - answer_share) < 0.5:
            answers.append(CallbackAnswer.BUSY)
        else:
            answers.append(CallbackAnswer.NO_ANSWER)
    return tuple(answers)


Arrival = tuple[float, QueueTraffic, float, float | None, str | None, str | None]


def _arrivals(
    scenario: Scenario,
    arrivals: random.Random,
    durations: random.Random,
    shares: dict[str, float],
) -> Iterator[Arrival]:
    if isinstance(scenario.arrivals, Poisson):
        at = 0.0
        rate = scenario.arrivals.per_second * scenario.voice_share  # text shares take theirs
        while rate > 0:
            at += arrivals.expovariate(rate)
            queue = scenario.queues[_pick(arrivals, shares)]
            handle = queue.handle.sample(durations)
            patience = queue.patience.sample(durations) if queue.patience else None
            yield at, queue, handle, patience, None, None
        return
    for row in scenario.arrivals.calls:
        queue = scenario.queues[row.queue]
        yield row.at_seconds, queue, row.handle_seconds, row.patience_seconds, row.caller, row.mood
