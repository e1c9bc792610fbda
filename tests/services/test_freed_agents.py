"""The agents freed on this instance (`services/freed_agents.py`), the dispatcher's hint: an
agent becoming ready, or holding fewer text tasks, is kept until the next pass takes it;
one taken again before that, or removed, is not, nor one on a call; only the newest few
are kept."""

from __future__ import annotations

import msgspec

from callcenter.domain import agents as agent_rules
from callcenter.domain.agents import Activity, Agent, Presence
from callcenter.domain.capacity import readied, ready, ready_on_voice
from callcenter.services.freed_agents import FREED_KEPT, FreedAgents
from tests.storage.test_calls import NOW, queued


def available(agent_id: str) -> tuple[Agent, Agent]:
    """An agent as it was (offline) and as it is (available)."""
    offline = agent_rules.new_agent(agent_id, agent_id.upper(), {"billing": 3}, NOW)
    return offline, agent_rules.set_presence(offline, Presence.AVAILABLE, NOW)


def test_an_agent_becoming_ready_is_kept_until_taken() -> None:
    freed = FreedAgents()
    offline, ready_now = available("a1")
    freed.agent_changed(None, offline)  # created offline: not ready
    assert freed.take() == []
    freed.agent_changed(offline, ready_now)
    assert [agent.id for agent in freed.take()] == ["a1"]
    assert freed.take() == []


def test_an_agent_freed_in_a_call_commit_is_kept() -> None:
    freed = FreedAgents()
    _, ready_now = available("a1")
    on_call = msgspec.structs.replace(ready_now, activity=Activity.ON_CALL)
    freed.calls_changed([(None, queued("c1"))], [(on_call, ready_now)])
    assert [agent.id for agent in freed.take()] == ["a1"]


def test_an_agent_on_a_call_with_room_for_text_is_not_kept() -> None:
    freed = FreedAgents()
    _, ready_now = available("a1")
    talking = msgspec.structs.replace(ready_now, activity=Activity.ON_CALL)
    assert ready_on_voice(talking)
    freed.agent_changed(ready_now, talking)
    assert freed.take() == []


def test_an_agent_taken_or_removed_before_the_pass_is_not_kept() -> None:
    freed = FreedAgents()
    offline, ready_now = available("a1")
    freed.agent_changed(offline, ready_now)
    freed.agent_changed(ready_now, agent_rules.set_presence(ready_now, Presence.BREAK, NOW))
    assert freed.take() == []
    freed.agent_changed(offline, ready_now)
    freed.agent_changed(ready_now, None)
    assert freed.take() == []


def test_only_the_newest_are_kept() -> None:
    freed = FreedAgents()
    for n in range(FREED_KEPT + 3):
        freed.agent_changed(*available(f"a{n}"))
    freed.agent_changed(*available("a0"))  # freed again: the newest
    kept = [agent.id for agent in freed.take()]
    assert len(kept) == FREED_KEPT
    assert kept[-1] == "a0" and "a1" not in kept and "a2" not in kept
    assert kept[:-1] == [f"a{n}" for n in range(4, FREED_KEPT + 3)]


def test_readied_is_joining_an_index_or_freeing_room() -> None:
    offline, ready_now = available("a1")
    assert readied(None, ready_now, ready)
    assert readied(offline, ready_now, ready)
    assert not readied(ready_now, ready_now, ready)  # no change
    assert not readied(ready_now, offline, ready)
    chatting = msgspec.structs.replace(ready_now, tasks={"t1": "chat", "t2": "chat"})
    one_left = msgspec.structs.replace(ready_now, tasks={"t1": "chat"})
    assert readied(chatting, one_left, ready)  # room for one more chat
    assert not readied(one_left, chatting, ready)
    talking = msgspec.structs.replace(one_left, activity=Activity.ON_CALL)
    assert readied(offline, talking, ready_on_voice) and not readied(offline, talking, ready)
