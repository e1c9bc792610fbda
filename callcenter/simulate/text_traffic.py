"""The text conversations a scenario opens, planned in advance from its seed: when each
customer writes in, on which channel and to which queue, who they are, their mood and the
messages it makes them write (angry ones as a contact center hears them: "this is the third
time", "cancel my account", "I want a supervisor"), their pauses and patience, and the
agent's side: time to accept, replies to a chat and time to resolve. Pure, as traffic.py:
the same scenario and seed give the same plan whatever the server does."""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from callcenter.simulate.scenario import Poisson, Scenario, TextChannel, TextMix
from callcenter.simulate.traffic import caller_number

PHRASES: Mapping[str, tuple[str, ...]] = {
    "angry": (
        "This is the third time I am writing about this and nothing has been fixed.",
        "I want to cancel my account. This is ridiculous.",
        "I want a supervisor now. Your service is terrible.",
        "Still no answer. This is the worst support I have ever had.",
    ),
    "neutral": (
        "Hi, I have a question about my last bill.",
        "Hello, I would like to know which plan I am on.",
        "Hi there, quick question about my bill.",
        "I would like to change my delivery address.",
        "Could you check the status of my order, please?",
    ),
    "happy": (
        "Hello! Thanks so much for the quick delivery last time.",
        "Great, thank you, that is very helpful!",
        "Lovely, I really appreciate your help.",
    ),
}
REPLIES: Mapping[str, tuple[str, ...]] = {
    "angry": (
        "I am very sorry about this. Let me sort it out for you right now.",
        "I have escalated this to my supervisor; you will hear from us today.",
    ),
    "other": (
        "Hello, thanks for writing in. Let me look into this for you.",
        "That is done now. Is there anything else I can help with?",
    ),
}


@dataclass(frozen=True, slots=True)
class TextPlan:
    index: int
    at_seconds: float  # the customer writes in, from the start of the run
    channel: str  # chat | sms | email
    queue: str
    customer: str  # `from`: a number (chat, SMS) or an address (email)
    name: str
    mood: str
    messages: tuple[str, ...]  # the customer's, in order; the first opens the task
    gaps: tuple[float, ...]  # the customer's pause before each message after the first
    patience_seconds: float | None  # leaves if no agent accepted by then; None: never
    think_seconds: float  # the agent's time to accept the offer
    replies: tuple[str, ...]  # the agent's, to a chat (SMS and email: none)
    reply_seconds: float  # the agent's typing time per reply
    handle_seconds: float  # the agent's work: accept to resolve

    @property
    def key(self) -> str:
        """The simulator's name for it until the server gives it an id."""
        return f"{self.channel}-{self.index}"


def plan_texts(scenario: Scenario) -> Iterator[TextPlan]:
    """The conversations of a run in arrival order, every channel's together; ends with
    `duration_seconds` (never, without one, unless no channel has a rate)."""
    mix = scenario.text
    if mix is None:
        return
    streams = [
        _stream(scenario, mix, channel)
        for channel in mix.channels.values()
        if arrival_rate(scenario, channel) > 0
    ]
    merged = heapq.merge(*streams, key=lambda arrival: arrival[0])
    limit = scenario.duration_seconds
    for index, (at, channel, rng) in enumerate(merged):
        if limit is not None and at > limit:
            return
        yield _plan(scenario, mix, channel, index, at, rng)


def arrival_rate(scenario: Scenario, channel: TextChannel) -> float:
    """The channel's customers per second: its share of the scenario's Poisson arrivals,
    or its own rate."""
    if channel.share > 0:
        arrivals = scenario.arrivals
        return channel.share * arrivals.per_second if isinstance(arrivals, Poisson) else 0.0
    return channel.per_second


def _stream(
    scenario: Scenario, mix: TextMix, channel: TextChannel
) -> Iterator[tuple[float, TextChannel, random.Random]]:
    """A channel's arrivals, each with the generator that draws the rest of its plan (one
    per channel, so that one channel's settings change nobody else's)."""
    arrivals = random.Random(f"{scenario.seed}:text:{channel.channel}:arrivals")
    draws = random.Random(f"{scenario.seed}:text:{channel.channel}")
    rate = arrival_rate(scenario, channel)
    at = 0.0
    while True:
        at += arrivals.expovariate(rate)
        yield at, channel, draws


def _plan(
    scenario: Scenario,
    mix: TextMix,
    channel: TextChannel,
    index: int,
    at: float,
    rng: random.Random,
) -> TextPlan:
    number = rng.randrange(scenario.callers.population)
    mood = _pick(rng, mix.moods)
    count = rng.randint(*mix.messages)
    phrases = PHRASES[mood]
    first = rng.randrange(len(phrases))
    replies = rng.randint(*mix.replies) if channel.channel == "chat" else 0
    answers = REPLIES["angry" if mood == "angry" else "other"]
    return TextPlan(
        index=index,
        at_seconds=at,
        channel=channel.channel,
        queue=channel.queue,
        customer=(
            f"customer{number}@example.com" if channel.channel == "email" else caller_number(number)
        ),
        name=f"Customer {number}",
        mood=mood,
        messages=tuple(phrases[(first + n) % len(phrases)] for n in range(count)),
        gaps=tuple(mix.think.sample(rng) for _ in range(count - 1)),
        patience_seconds=channel.patience.sample(rng) if channel.patience else None,
        think_seconds=scenario.think.sample(rng),
        replies=tuple(answers[min(n, len(answers) - 1)] for n in range(replies)),
        reply_seconds=mix.reply.sample(rng),
        handle_seconds=channel.handle.sample(rng),
    )


def _pick(rng: random.Random, weights: Mapping[str, float]) -> str:
    names = [name for name, weight in weights.items() if weight > 0]
    return rng.choices(names, [weights[name] for name in names])[0]
