"""Agent presence (the agent's choice) and activity (the system's state machine)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from callcenter.domain.agents import (
    ALLOWED_ACTIVITY,
    Activity,
    Agent,
    Presence,
    new_agent,
    record_talk,
    set_activity,
    set_presence,
    update_profile,
)
from callcenter.errors import IllegalTransition

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 1, 5, 12, 30, tzinfo=UTC)
NEXT_DAY = datetime(2026, 1, 6, 0, 0, 1, tzinfo=UTC)


def agent_in(
    activity: Activity, presence: Presence = Presence.AVAILABLE, **fields: object
) -> Agent:
    agent = new_agent("a1", "Ann", {"billing": 4}, T0)
    call_id = None if activity is Activity.IDLE else "c1"
    return msgspec.structs.replace(
        agent, activity=activity, presence=presence, call_id=call_id, **fields
    )


def test_new_agent_is_offline_idle_and_counts_from_today() -> None:
    skills = {"billing": 4}
    agent = new_agent("a1", "Ann", skills, T0)
    skills["sales"] = 1
    assert (agent.id, agent.name, agent.skills) == ("a1", "Ann", {"billing": 4})
    assert (agent.presence, agent.activity, agent.call_id) == (
        Presence.OFFLINE,
        Activity.IDLE,
        None,
    )
    assert agent.activity_since == agent.presence_since == agent.idle_since == T0
    assert (agent.day, agent.calls_today, agent.talk_seconds_today) == ("2026-01-05", 0, 0.0)
    assert agent.missed_offers == 0


def test_update_profile_changes_name_and_skills_only() -> None:
    agent = agent_in(Activity.ON_CALL, calls_today=3)
    skills = {"sales": 2}
    updated = update_profile(agent, "Anne", skills)
    skills["billing"] = 5
    assert (updated.name, updated.skills) == ("Anne", {"sales": 2})
    assert msgspec.structs.replace(updated, name="Ann", skills={"billing": 4}) == agent


@pytest.mark.parametrize("before", list(Presence))
@pytest.mark.parametrize("after", list(Presence))
def test_any_presence_may_follow_any_other(before: Presence, after: Presence) -> None:
    blocked = LATER + timedelta(seconds=10)
    agent = agent_in(Activity.IDLE, before, missed_offers=2, blocked_until=blocked)
    changed = set_presence(agent, after, LATER)
    assert changed.presence is after
    if after is before:
        assert changed is agent
        return
    assert changed.presence_since == LATER
    back = after is Presence.AVAILABLE
    assert changed.missed_offers == (0 if back else 2)
    assert changed.blocked_until == (None if back else blocked)
    # An idle agent coming back starts its idle time now (longest-idle routing).
    assert changed.idle_since == (LATER if back else T0)
    assert (changed.activity, changed.activity_since) == (agent.activity, agent.activity_since)


@pytest.mark.parametrize("activity", [Activity.RESERVED, Activity.ON_CALL, Activity.WRAP_UP])
def test_coming_back_while_busy_keeps_the_idle_time(activity: Activity) -> None:
    agent = agent_in(activity, Presence.AWAY, missed_offers=1)
    changed = set_presence(agent, Presence.AVAILABLE, LATER)
    assert (changed.idle_since, changed.missed_offers) == (T0, 0)
    assert (changed.activity, changed.call_id) == (activity, "c1")


@pytest.mark.parametrize("presence", list(Presence))
@pytest.mark.parametrize("activity", list(Activity))
def test_eligible_means_available_and_idle(presence: Presence, activity: Activity) -> None:
    agent = agent_in(activity, presence)
    expected = presence is Presence.AVAILABLE and activity is Activity.IDLE
    assert agent.eligible is expected


ACTIVITY_TABLE = [
    (before, after, after in ALLOWED_ACTIVITY[before]) for before in Activity for after in Activity
]


def test_activity_machine() -> None:
    assert ALLOWED_ACTIVITY == {
        Activity.IDLE: {Activity.RESERVED, Activity.ON_CALL},
        Activity.RESERVED: {Activity.IDLE, Activity.ON_CALL},
        Activity.ON_CALL: {Activity.WRAP_UP, Activity.IDLE},
        Activity.WRAP_UP: {Activity.IDLE},
    }


@pytest.mark.parametrize(("before", "after", "allowed"), ACTIVITY_TABLE)
def test_set_activity(before: Activity, after: Activity, allowed: bool) -> None:
    agent = agent_in(before)
    if not allowed:
        with pytest.raises(IllegalTransition) as caught:
            set_activity(agent, after, LATER, call_id="c2")
        assert (caught.value.entity, caught.value.entity_id) == ("agent", "a1")
        assert (caught.value.current, caught.value.requested) == (str(before), str(after))
        return
    changed = set_activity(agent, after, LATER, call_id="c2")
    assert (changed.activity, changed.activity_since) == (after, LATER)
    if after is Activity.IDLE:
        assert (changed.call_id, changed.idle_since) == (None, LATER)
    else:
        assert (changed.call_id, changed.idle_since) == ("c2", T0)
    assert (changed.presence, changed.presence_since) == (agent.presence, agent.presence_since)


def test_activity_change_on_a_new_day_resets_the_day_counters() -> None:
    agent = agent_in(Activity.ON_CALL, calls_today=7, talk_seconds_today=900.0)
    wrapped = set_activity(agent, Activity.WRAP_UP, NEXT_DAY, call_id="c1")
    assert (wrapped.day, wrapped.calls_today, wrapped.talk_seconds_today) == ("2026-01-06", 0, 0.0)


def test_activity_change_on_the_same_day_keeps_the_day_counters() -> None:
    agent = agent_in(Activity.ON_CALL, calls_today=7, talk_seconds_today=900.0)
    wrapped = set_activity(agent, Activity.WRAP_UP, LATER, call_id="c1")
    assert (wrapped.day, wrapped.calls_today, wrapped.talk_seconds_today) == (
        "2026-01-05",
        7,
        900.0,
    )


def test_record_talk_counts_one_call_and_its_seconds() -> None:
    agent = agent_in(Activity.WRAP_UP, calls_today=2, talk_seconds_today=100.0)
    counted = record_talk(agent, 42.5, LATER)
    assert (counted.calls_today, counted.talk_seconds_today) == (3, 142.5)
    assert (counted.activity, counted.call_id) == (Activity.WRAP_UP, "c1")


def test_record_talk_never_counts_negative_seconds() -> None:
    counted = record_talk(agent_in(Activity.WRAP_UP, calls_today=1), -5.0, LATER)
    assert (counted.calls_today, counted.talk_seconds_today) == (2, 0.0)


def test_record_talk_on_a_new_day_starts_the_count_again() -> None:
    agent = agent_in(Activity.WRAP_UP, calls_today=9, talk_seconds_today=3600.0)
    counted = record_talk(agent, 60.0, NEXT_DAY)
    assert (counted.day, counted.calls_today, counted.talk_seconds_today) == (
        "2026-01-06",
        1,
        60.0,
    )


def test_day_is_the_date_of_the_time_passed_in() -> None:
    # The domain never reads the clock: a minute before midnight is still the same day.
    agent = agent_in(Activity.WRAP_UP, calls_today=4)
    counted = record_talk(agent, 1.0, NEXT_DAY - timedelta(minutes=1))
    assert (counted.day, counted.calls_today) == ("2026-01-05", 5)
    stale = agent_in(Activity.WRAP_UP, day="2026-01-04", calls_today=4)
    assert record_talk(stale, 1.0, T0).calls_today == 1
