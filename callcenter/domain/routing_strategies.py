"""How each routing strategy ranks the eligible agents for a call, and says why."""

from __future__ import annotations

import hashlib
from datetime import datetime

from callcenter.domain.agents import Agent
from callcenter.domain.routing_rules import QueueConfig, Step, Strategy


def strategy_score(
    agent: Agent, queue: QueueConfig, step: Step, call_id: str, now: datetime
) -> float:
    """How `agent` ranks for a call of `queue` under the queue's strategy: lower is better."""
    strategy = queue.strategy
    if strategy is Strategy.BEST_SKILL:
        # the skills that matter: the step's, else the queue's, else all the agent has
        skills = step.require or queue.skills or agent.skills
        level = sum(agent.skills.get(s, 0) for s in skills) / max(1, len(skills))
        # proficiency first; idle time breaks ties (at most 1e6 s)
        return -level * 1e6 - (now - agent.idle_since).total_seconds()
    if strategy is Strategy.FEWEST_CALLS:
        return float(agent.calls_today)
    if strategy is Strategy.LEAST_TALK_TIME:
        return agent.talk_seconds_today
    if strategy is Strategy.ROUND_ROBIN:
        last = agent.last_offered_at
        return last.timestamp() if last else 0.0
    if strategy is Strategy.RANDOM:
        digest = hashlib.blake2b(f"{call_id}:{agent.id}".encode(), digest_size=8).digest()
        return int.from_bytes(digest) / 2**64
    return -(now - agent.idle_since).total_seconds()  # longest idle


def strategy_detail(agent: Agent, strategy: Strategy, now: datetime) -> str:
    """What the strategy looked at, for the decision's explanation."""
    if strategy is Strategy.BEST_SKILL:
        return f"skills {agent.skills}, idle {(now - agent.idle_since).total_seconds():.0f}s"
    if strategy is Strategy.FEWEST_CALLS:
        return f"{agent.calls_today} calls today"
    if strategy is Strategy.LEAST_TALK_TIME:
        return f"{agent.talk_seconds_today:.0f}s talk today"
    if strategy is Strategy.ROUND_ROBIN:
        last = agent.last_offered_at
        return f"last offered {last.isoformat() if last else 'never'}"
    if strategy is Strategy.RANDOM:
        return "random draw"
    return f"idle {(now - agent.idle_since).total_seconds():.0f}s"
