"""Text conversations in a simulator run against a real server process, beside calls
(Twilio dialect): chat customers open chats as the widget does (session, socket), SMS
customers arrive through the tasks API, and both write over time; agent bots hold several
at once up to their capacity, reply to chats and resolve them;
nothing is offered beyond an agent's capacity, during its calls or out of arrival order;
the server's tasks and counters agree with the simulator's, and the summary has a line per
channel."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence

import pytest

from callcenter.simulate.api import ServerApi
from callcenter.simulate.holdings import VOICE, Span
from callcenter.simulate.ledger import Ledger
from callcenter.simulate.report import summary_of
from callcenter.simulate.runner import RunResult, Simulation
from callcenter.simulate.scenario import Scenario
from callcenter.simulate.text_traffic import TextPlan, plan_texts
from callcenter.simulate.traffic import plan_calls
from tests.simulate.conftest import ServerFactory, scenario

CAPACITY_ERROR = re.compile(
    r"^\S+: (chat|sms|voice) offered to tx-\w+ at [\d.]+ s while it held \d+.*: its \1 "
    r"capacity is \d$"
)
CHANNEL_LINE = re.compile(r"^(chat|sms): (\d+) opened, (\d+) handled, (\d+) abandoned")


@pytest.mark.timeout(120)
async def test_chats_and_sms_beside_calls(start_server: ServerFactory) -> None:
    texts = scenario("texts")
    assert texts.rules_dir is not None
    planned = list(plan_texts(texts))
    chats = [p for p in planned if p.channel == "chat"]
    assert len(chats) >= 5 and len(planned) > len(chats), "the seed no longer fits"
    assert any(p.mood == "angry" for p in chats) and len(list(plan_calls(texts, "x"))) >= 5
    async with start_server(texts.rules_dir) as server:
        result = await Simulation(texts, server.options(speech=False)).run(asyncio.Event())
    lines = summary_of(result)
    print("\n".join(lines))
    ledger = result.ledger
    assert (ledger.routing_errors, ledger.failures, result.server_problems) == ([], [], [])
    assert "routing errors: 0" in lines
    _check_channel_lines(lines, planned)
    _check_conversations(result.ledger, texts)
    _check_counts(result, lines)
    assert result.ok


@pytest.mark.timeout(120)
async def test_a_server_that_offers_beyond_capacity_is_caught(start_server: ServerFactory) -> None:
    """The same run against a server that has every agent take more than its bot holds."""
    texts = scenario("texts")
    assert texts.rules_dir is not None

    async def widen(simulation: Simulation, api: ServerApi) -> None:
        for agent in texts.roster:
            wider = {"voice": 1, "chat": 4, "sms": 3}
            await api.put_agent(agent.id, agent.name, agent.skills, wider)

    async with start_server(texts.rules_dir) as server:
        options = server.options(speech=False)
        result = await Simulation(texts, options, on_ready=widen).run(asyncio.Event())
    errors = result.ledger.routing_errors
    assert any(CAPACITY_ERROR.match(e) for e in errors), errors
    assert not result.ok


def _check_channel_lines(lines: list[str], planned: list[TextPlan]) -> None:
    """A line per channel; every conversation ended, some of them handled."""
    per_channel = {m[1]: m for line in lines if (m := CHANNEL_LINE.match(line))}
    assert set(per_channel) == {"chat", "sms"}
    for channel, match in per_channel.items():
        count, handled, abandoned = (int(match[n]) for n in (2, 3, 4))
        assert count == sum(p.channel == channel for p in planned)
        assert handled + abandoned == count and handled >= 1, match[0]


def _check_conversations(ledger: Ledger, texts: Scenario) -> None:
    opened = ledger.opened()
    assert len(opened) == len(list(plan_texts(texts)))
    assert {r.outcome for r in opened} <= {"handled", "abandoned"}
    # chats get their replies, SMS none (no SMS sender in a simulation)
    chats = [r for r in opened if r.plan.channel == "chat" and r.outcome == "handled"]
    assert chats and all(r.replies for r in chats)
    # ... each shown in the customer's chat window (the widget's session and socket)
    by_agent = [r for r in chats if r.closed_by == "agent"]
    assert by_agent and all(len(r.replies_seen) == len(r.replies) for r in by_agent)
    assert not [r for r in opened if r.plan.channel == "sms" and r.replies]
    # agents held several conversations at once (within capacity: no routing error)
    assert max(_most_held(ledger.holdings.of(a.id)) for a in texts.roster) >= 2
    # angry customers raise alerts on their conversation
    assert any(r.alerts for r in opened if r.plan.mood == "angry")


def _check_counts(result: RunResult, lines: list[str]) -> None:
    """The server's counts equal ours, the task counters among them."""
    assert result.checks is not None
    compared = {c.what: c for c in result.checks if c.got is not None}
    for what in (
        "callcenter_tasks_total{channel=chat,outcome=created}",
        "callcenter_tasks_total{channel=chat,outcome=handled}",
        "callcenter_tasks_total{channel=sms,outcome=handled}",
        "callcenter_task_messages_total{channel=chat,author=agent}",
        "callcenter_first_response_seconds_count{channel=chat}",
    ):
        assert what in compared, what
    assert [c for c in result.checks if not c.ok] == []
    assert f"server metrics: all {len(compared)} counts equal the simulator's" in lines


def _most_held(spans: Sequence[Span]) -> int:
    """The most text conversations a bot held at one moment."""
    texts = [s for s in spans if s.channel != VOICE]
    held = [
        sum(o.start <= s.start and (o.ended is None or o.ended > s.start) for o in texts)
        for s in texts
    ]
    return max(held, default=0)
