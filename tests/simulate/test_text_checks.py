"""The routing errors the agents' holdings are checked for, on ledgers written by hand:
an offer beyond the agent's capacity, a text offer during a call, and work of a queue taken
out of arrival order across channels; only when wrong whichever way the release times fall.
Then what the text lines of the summary and the server's task counters say."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from callcenter.simulate.holdings import VOICE, Holdings, Span
from callcenter.simulate.ledger import Ledger, TextRecord
from callcenter.simulate.metrics_check import Sample, compare
from callcenter.simulate.report import summary
from callcenter.simulate.rules_summary import RuledQueue, RulesSummary
from callcenter.simulate.scenario import AgentSpec, Scenario
from callcenter.simulate.scenario_loader import load_scenario
from callcenter.simulate.text_checks import holding_errors
from callcenter.simulate.text_traffic import TextPlan
from callcenter.simulate.traffic import CallPlan
from callcenter.simulate.verify import text_problems
from tests.simulate.test_text_scenario import TEXTS

ORDERED = RuledQueue(("support",), 10.0, in_arrival_order=True)
ANN = AgentSpec("ann", "Ann", {"support": 3}, {"voice": 1, "chat": 2, "sms": 1, "email": 0})


def _scenario(tmp_path: Path, rules: RulesSummary | None = None) -> Scenario:
    path = tmp_path / "s.yaml"
    path.write_text(TEXTS)
    loaded = load_scenario(path)
    return dataclasses.replace(loaded, roster=(ANN,), rules=rules)


def _text(ledger: Ledger, index: int, opened_at: float, channel: str = "chat") -> TextRecord:
    plan = TextPlan(
        index=index,
        at_seconds=opened_at,
        channel=channel,
        queue="support",
        customer=f"+1555000{index:04d}",
        name=f"Customer {index}",
        mood="neutral",
        messages=("Hi there, quick question about my bill.",),
        gaps=(),
        patience_seconds=None,
        think_seconds=0.5,
        replies=("Hello",) if channel == "chat" else (),
        reply_seconds=1.0,
        handle_seconds=10.0,
    )
    record = ledger.add_text(plan)
    record.opened_at = opened_at
    record.customer_messages.append(opened_at)
    ledger.text_opened(record, f"t-{index}")
    return record


def _offer(ledger: Ledger, record: TextRecord, at: float, *, ending: float | None = None) -> None:
    assert record.task_id is not None
    record.offers.append((at, "ann"))
    ledger.holdings.hold("ann", Span(record.task_id, record.plan.channel, "support", at))
    if ending is not None:
        ledger.holdings.releasing(record.task_id, ending)
        ledger.holdings.released(record.task_id, ending + 0.1)


def test_offers_within_capacity_are_clean(tmp_path: Path) -> None:
    ledger = Ledger()
    first, second, third = (_text(ledger, n, float(n)) for n in range(3))
    _offer(ledger, first, 1.0, ending=8.0)
    _offer(ledger, second, 2.0)
    _offer(ledger, third, 8.0)  # the first was being released: room, whichever way it fell
    assert holding_errors(ledger, _scenario(tmp_path)) == []


def test_an_offer_beyond_capacity(tmp_path: Path) -> None:
    ledger = Ledger()
    first, second, third = (_text(ledger, n, float(n)) for n in range(3))
    sms = _text(ledger, 3, 3.0, "sms")
    for record in (first, second):
        _offer(ledger, record, 1.0 + record.plan.index)
    _offer(ledger, third, 5.0)
    _offer(ledger, sms, 5.0)  # another channel: its own capacity
    assert holding_errors(ledger, _scenario(tmp_path)) == [
        "t-2: chat offered to ann at 5.0 s while it held 2 (t-0, t-1): its chat capacity is 2"
    ]
    # a queue's cap lowers the agent's own
    capped = RulesSummary({"support": RuledQueue(("support",), 10.0, capacity={"sms": 0})})
    errors = holding_errors(ledger, _scenario(tmp_path, capped))
    assert "t-3: sms offered to ann at 5.0 s while it held 0: its sms capacity is 0" in errors


def test_a_text_offer_during_a_call_unless_the_queue_allows_it(tmp_path: Path) -> None:
    ledger = Ledger()
    chat, later = _text(ledger, 0, 5.0), _text(ledger, 1, 20.0)
    ledger.holdings.hold("ann", Span("CA1", VOICE, "support", 2.0))
    ledger.holdings.releasing("CA1", 15.0)  # wrap-up done sent at 15 s
    _offer(ledger, chat, 6.0)
    _offer(ledger, later, 15.1)  # within the slack of the release: maybe free already
    assert holding_errors(ledger, _scenario(tmp_path)) == [
        "t-0: chat offered to ann at 6.0 s while it was on call CA1 "
        "(queue support takes no text during voice)"
    ]
    allowed = RulesSummary({"support": RuledQueue(("support",), 10.0, text_during_voice=True)})
    assert holding_errors(ledger, _scenario(tmp_path, allowed)) == []


def test_the_agents_document_ends_a_call_the_bot_did_not_release(tmp_path: Path) -> None:
    holdings = Holdings()
    holdings.hold("ann", Span("CA1", VOICE, "support", 2.0))
    holdings.hold("ann", Span("CA1", VOICE, "support", 2.5))  # the same offer again
    holdings.on_voice("ann", "CA1", 2.1, 2.2)  # reserved for it: still held
    assert [s.ended for s in holdings.of("ann")] == [None]
    holdings.on_voice("ann", None, 9.0, 9.3)  # idle since 9 s (the caller hung up ringing)
    assert [(s.ending, s.ended) for s in holdings.of("ann")] == [(9.0, 9.3)]


def test_work_taken_out_of_arrival_order_across_channels(tmp_path: Path) -> None:
    ledger = Ledger()
    older, newer = _text(ledger, 0, 1.0), _text(ledger, 1, 5.0)
    _offer(ledger, newer, 6.0)  # ann had room for two chats, the older one waited
    rules = RulesSummary({"support": ORDERED})
    expected = (
        "t-1: chat offered to ann at 6.0 s while t-0, an older chat of queue support, "
        "waited without an offer and the agent had room for it"
    )
    assert holding_errors(ledger, _scenario(tmp_path, rules)) == [expected]
    # not checked where the rules reorder work; not wrong once the older one was offered
    assert holding_errors(ledger, _scenario(tmp_path, None)) == []
    older.offers.append((6.1, "bob"))
    assert holding_errors(ledger, _scenario(tmp_path, rules)) == []
    # an older caller passed over for a chat while ann was free for calls
    call = _call(ledger, placed_at=2.0)
    errors = holding_errors(ledger, _scenario(tmp_path, rules))
    assert errors == [expected.replace("t-0, an older chat", f"{call}, an older voice")]


def _call(ledger: Ledger, placed_at: float) -> str:
    plan = CallPlan(
        index=0,
        call_sid="CA" + "0" * 32,
        at_seconds=placed_at,
        queue="support",
        dialed="+18005550101",
        caller="+15550009999",
        tier="standard",
        first_call=True,
        mood=None,
        clip_pick=0,
        handle_seconds=3.0,
        patience_seconds=None,
        think_seconds=0.5,
        wrap_up_seconds=0.5,
    )
    ledger.add(plan).placed_at = placed_at
    return plan.call_sid


def _finished(ledger: Ledger) -> None:
    """One chat handled (a reply 2 s after the customer wrote), one left unanswered, one
    angry whose alert came before the server named its task."""
    handled, left = _text(ledger, 0, 1.0), _text(ledger, 1, 2.0)
    _offer(ledger, handled, 1.5)
    handled.accepted_by, handled.accepted_at = "ann", 2.0
    handled.replies.append(3.0)
    handled.replies_seen.append(3.25)  # the customer's window showed it 250 ms later
    handled.closed_at = handled.leaving_at = 12.0
    left.closed_at = left.leaving_at = 30.0
    ledger.alert("t-9", "escalation")
    _text(ledger, 9, 3.0).closed_at = 40.0


def test_the_text_lines_of_the_summary(tmp_path: Path) -> None:
    ledger = Ledger()
    _finished(ledger)
    handled, left, angry = ledger.opened()
    assert angry.alerts == ["escalation"] and ledger.unknown_alerts == 0
    assert (handled.outcome, left.outcome, handled.first_response_seconds) == (
        "handled",
        "abandoned",
        2.0,
    )
    lines = summary(_scenario(tmp_path), ledger, elapsed=40.0, interrupted=False, checks=None)
    chat = next(line for line in lines if line.startswith("chat:"))
    assert chat == (
        "chat: 3 opened, 1 handled, 2 abandoned; accepted after 1.0 s on average; first "
        "response 2.0 s on average (1 answered); 3 customer messages, 1 replies (1 shown in "
        "the customer's chat window, 250 ms after the agent's post was answered)"
    )
    assert "3 text conversations opened" in lines[0]
    assert lines[lines.index(chat) + 3] == (
        "  1 offers checked against each agent's capacity and calls; arrival order across "
        "channels not checked in support (no rules named)"
    )


def test_the_servers_task_counters_against_ours() -> None:
    ledger = Ledger()
    _finished(ledger)
    exposition = (
        'callcenter_tasks_total{{channel="chat",queue="support",outcome="created"}} {created}\n'
        'callcenter_tasks_total{{channel="chat",queue="support",outcome="handled"}} 1.0\n'
        'callcenter_tasks_total{{channel="chat",queue="support",outcome="abandoned"}} 2.0\n'
        'callcenter_task_messages_total{{channel="chat",author="customer"}} 3.0\n'
        'callcenter_task_messages_total{{channel="chat",author="agent"}} 1.0\n'
        'callcenter_first_response_seconds_count{{channel="chat"}} 1.0\n'
    )
    before = Sample.parse("")
    checks = compare(before, Sample.parse(exposition.format(created="3.0")), ledger, "twilio")
    texts = [c for c in checks if "task" in c.what or "first_response" in c.what]
    assert len(texts) == 6 and all(c.ok for c in texts), texts
    wrong = compare(before, Sample.parse(exposition.format(created="4.0")), ledger, "twilio")
    assert [c.what for c in wrong if not c.ok] == [
        "callcenter_tasks_total{channel=chat,outcome=created}"
    ]


def test_the_servers_task_against_the_conversation() -> None:
    ledger = Ledger()
    record = _text(ledger, 0, 1.0)
    record.accepted_by, record.closed_at = "ann", 9.0
    record.replies.append(2.0)
    task = {
        "state": "ended",
        "outcome": "handled",
        "agent_id": "ann",
        "conversation": {"customer_messages": 1, "agent_messages": 1},
    }
    assert text_problems(record, task) == []
    assert text_problems(record, {**task, "outcome": "abandoned", "agent_id": "bob"}) == [
        "t-0: the server says abandoned, we lived handled",
        "t-0: the server names agent bob, ann accepted",
    ]
    assert text_problems(record, {**task, "conversation": {"customer_messages": 2}}) == [
        "t-0: the server counts 2 customer messages and 0 replies, 1 and 1 were taken"
    ]
    assert text_problems(record, {"state": "queued"}) == ["t-0: still queued on the server"]
