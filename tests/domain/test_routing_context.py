"""What rule conditions see of a call and its caller: the same names whether the caller is
known or not, neutral values where nothing is known."""

from __future__ import annotations

from datetime import UTC, datetime

from callcenter.domain.callers import CallerHistory, CallerProfile, CallerView
from callcenter.domain.calls import Call, CallState, Outcome
from callcenter.domain.routing_context import rule_context

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
CALL = Call(
    id="c1",
    gateway_call_id="c1",
    state=CallState.QUEUED,
    queue="general",
    created_at=NOW,
    updated_at=NOW,
    last_event_at=NOW,
)
NEUTRAL = {
    "name": "",
    "tier": "",
    "tags": [],
    "account": {},
    "calls_total": 0,
    "last_agent": "",
    "last_queue": "",
    "last_outcome": "",
    "last_sentiment": 0.0,
    "sentiment_ewma": 0.0,
    "repeat_within_7d": False,
}


def known(profile: CallerProfile, history: CallerHistory, *, repeat: bool = False) -> CallerView:
    return CallerView(key="+15551230000", profile=profile, history=history, repeat_within_7d=repeat)


def test_an_unknown_caller_has_every_name_with_a_neutral_value() -> None:
    assert rule_context(CALL, None, NOW)["caller"] == {"known": False, **NEUTRAL}


def test_a_caller_known_for_nothing_looks_neutral_but_known() -> None:
    caller = rule_context(CALL, known(CallerProfile(), CallerHistory()), NOW)["caller"]
    assert caller == {"known": True, **NEUTRAL}
    assert list(caller) == list(rule_context(CALL, None, NOW)["caller"])  # same names, order


def test_a_known_caller_shows_profile_and_history() -> None:
    profile = CallerProfile(name="Ann", tier="vip", tags=["churn-risk"], account={"plan": "pro"})
    history = CallerHistory(
        calls_total=4,
        last_agent="a7",
        last_queue="billing",
        last_outcome=Outcome.ABANDONED,
        last_sentiment=-0.5,
        sentiment_ewma=-0.25,
    )
    caller = rule_context(CALL, known(profile, history, repeat=True), NOW)["caller"]
    assert caller == {
        "known": True,
        "name": "Ann",
        "tier": "vip",
        "tags": ["churn-risk"],
        "account": {"plan": "pro"},
        "calls_total": 4,
        "last_agent": "a7",
        "last_queue": "billing",
        "last_outcome": "abandoned",
        "last_sentiment": -0.5,
        "sentiment_ewma": -0.25,
        "repeat_within_7d": True,
    }


def test_each_context_has_its_own_values() -> None:
    first = rule_context(CALL, None, NOW)
    first["caller"]["tags"].append("changed")
    first["caller"]["account"]["x"] = 1
    first["call"]["attributes"]["x"] = "1"
    second = rule_context(CALL, None, NOW)
    assert (second["caller"]["tags"], second["caller"]["account"]) == ([], {})
    assert CALL.attributes == {} and second["call"]["attributes"] == {}


def test_the_call_and_its_queue_hint() -> None:
    context = rule_context(CALL, None, NOW)
    assert context["call"] == {
        "id": "c1",
        "from": "",
        "to": "",
        "direction": "inbound",
        "queue": "",
        "priority": 0,
        "attributes": {},
        "channel": "voice",
        "subject": "",
    }
    assert context["task"] == context["call"]
    assert (context["queue"], context["now"]) == ("", NOW)
