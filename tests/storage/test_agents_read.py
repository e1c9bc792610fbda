"""Reading every agent (`AgentRepository.all`) on a real Redis: the ids, then their
documents in slices, so that no one command holds Redis for the whole read. Every agent
comes back once, in id order, across slice boundaries; agents removed are left out; and
no command reads more documents than a slice."""

from __future__ import annotations

from datetime import UTC, datetime

from callcenter.domain import agents as agent_rules
from callcenter.storage.agents import AgentRepository
from callcenter.storage.documents import DocumentStore
from callcenter.storage.resp import RespClient

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


async def hget_counts(resp: RespClient) -> tuple[int, int]:
    """(HGET calls, EVALSHA calls) Redis has served (scripts' commands included)."""
    stats = (await resp.execute("INFO", "commandstats")).decode()
    found = {"hget": 0, "evalsha": 0}
    for line in stats.splitlines():
        name = line.split(":")[0].removeprefix("cmdstat_")
        if name in found:
            found[name] = int(line.split("calls=")[1].split(",")[0])
    return found["hget"], found["evalsha"]


async def test_every_agent_comes_back_once_in_id_order_across_slices(resp: RespClient) -> None:
    agents = AgentRepository(DocumentStore(resp), slice_size=3)
    assert await agents.all() == []
    for n in (7, 3, 10, 1, 5, 9, 2, 8, 4, 6):
        await agents.save(None, agent_rules.new_agent(f"a{n:02d}", f"Agent {n}", {}, NOW), NOW)
    await agents.all()  # the first read loads the script (NOSCRIPT, then the slices again)
    hgets, scripts = await hget_counts(resp)
    found = await agents.all()
    assert [agent.id for agent in found] == [f"a{n:02d}" for n in range(1, 11)]
    after_hgets, after_scripts = await hget_counts(resp)
    assert (after_hgets - hgets, after_scripts - scripts) == (10, 4)  # 3 + 3 + 3 + 1
    gone = found[4]
    await agents.delete(gone)
    assert [agent.id for agent in await agents.all()] == [
        agent.id for agent in found if agent.id != gone.id
    ]


async def test_the_documents_read_again_are_the_ones_decoded_before(resp: RespClient) -> None:
    agents = AgentRepository(DocumentStore(resp), slice_size=2)
    for n in range(5):
        await agents.save(None, agent_rules.new_agent(f"a{n}", f"Agent {n}", {}, NOW), NOW)
    first, second = await agents.all(), await agents.all()
    assert all(a is b for a, b in zip(first, second, strict=True))
