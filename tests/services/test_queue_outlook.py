"""The queue outlook service on a real Redis with a fixed clock: a contact center whose
agents are on a call, in wrap-up, ringing and away, with callers and callbacks waiting,
gives the figures the README's formulas say, to the second; and the outlook feed's ticks
are taken by one instance each, kept as minute points and published."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from callcenter.domain.agents import Activity, Agent, Presence
from callcenter.domain.calls import Call, Callback, CallState
from callcenter.domain.queue_traffic import QueueTraffic
from callcenter.domain.routing_rules import QueueConfig, RoutingRules, Rule
from callcenter.domain.staffing import agents_needed
from callcenter.errors import NotFound
from callcenter.metrics import Metrics
from callcenter.services.bus import EventBus
from callcenter.services.live_events import OutlookUpdated, decode_live_event
from callcenter.services.outlook_feed import OutlookFeed
from callcenter.services.queue_outlook import LATEST_MAX_AGE_SECONDS, QueueOutlook
from callcenter.services.rules_source import RulesSource
from callcenter.storage.agents import AgentRepository
from callcenter.storage.bus import BusRepository
from callcenter.storage.calls import CallRepository
from callcenter.storage.documents import DocumentStore
from callcenter.storage.queue_activity import QueueActivityRepository
from callcenter.storage.resp import RespClient
from tests.storage.test_places import backlog

NOW = datetime(2026, 3, 2, 10, 0, 30, tzinfo=UTC)  # 30 s into a minute
RULES = RoutingRules(
    queues={
        "billing": QueueConfig(name="billing", skills=("billing",)),
        "sales": QueueConfig(name="sales", skills=("sales",)),
    },
    rules=(Rule(name="default"),),
)


class FixedClock:
    def now(self) -> datetime:
        return NOW


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def agent(agent_id: str, activity: Activity, since: float, **fields: object) -> Agent:
    skills = {"sales": 3} if agent_id.startswith("s") else {"billing": 3}
    base = Agent(
        id=agent_id,
        name=agent_id,
        skills=skills,
        presence=Presence.AVAILABLE,
        activity=activity,
        activity_since=ago(since),
        presence_since=ago(3600),
        idle_since=ago(3600),
        call_id=None if activity is Activity.IDLE else f"x-{agent_id}",
    )
    return msgspec.structs.replace(base, **fields)


def waiting(call_id: str, waited: float, *, priority: int = 0, held: float | None = None) -> Call:
    callback = None
    if call_id.startswith("cb"):
        callback = Callback(
            number="+15550001111",
            requested_at=ago(waited),
            source="api",
            not_before=NOW + timedelta(seconds=held) if held is not None else None,
        )
    return Call(
        id=call_id,
        gateway_call_id=call_id,
        state=CallState.QUEUED,
        queue="billing",
        created_at=ago(waited),
        updated_at=ago(waited),
        last_event_at=ago(waited),
        priority=priority,
        queued_at=ago(waited),
        callback=callback,
    )


class CountingAgents(AgentRepository):
    """The real repository, counting the reads of every agent."""

    every_read = 0

    async def all(self) -> list[Agent]:
        self.every_read += 1
        return await super().all()


async def contact_center(
    resp: RespClient, agents: AgentRepository | None = None
) -> tuple[QueueOutlook, CallRepository]:
    """Billing: a1 on a call for 40 s, a2 in wrap-up for 15 s, a3 ringing, a4 away; three
    callers and two callbacks (one held back 300 s more) waiting; the last hour handled 4
    calls of 300 s (240 s talk), the last 15 minutes brought 30. Sales: s1, idle."""
    store = DocumentStore(resp)
    agents = agents or AgentRepository(store)
    calls = CallRepository(store, retention=timedelta(days=1), dedupe_window=timedelta(days=1))
    activity = QueueActivityRepository(resp)
    for one in (
        agent("a1", Activity.ON_CALL, 40),
        agent("a2", Activity.WRAP_UP, 15),
        agent("a3", Activity.RESERVED, 2),
        agent("a4", Activity.IDLE, 0, presence=Presence.AWAY),
        agent("s1", Activity.IDLE, 60),
    ):
        await agents.save(None, one, NOW)
    for call in (
        waiting("c-old", 100),
        waiting("c-vip", 5, priority=10),
        waiting("c-me", 50),
        waiting("cb-now", 200),
        waiting("cb-later", 600, held=300),
    ):
        await calls.commit(None, call, (), event_id=None, now=NOW)
    await activity.record(
        ago(1800), "billing", QueueTraffic(handled=4, handle_seconds=1200, talk_seconds=960)
    )
    await activity.record(
        ago(300), "billing", QueueTraffic(arrived=30, answered=20, answered_in_sl=15, abandoned=5)
    )
    outlook = QueueOutlook(
        calls, agents, activity, rules=RulesSource(lambda: RULES), clock=FixedClock()
    )
    return outlook, calls


async def test_every_figure_of_a_queue(resp: RespClient) -> None:
    outlook, _ = await contact_center(resp)
    billing, sales = await outlook.queues()
    assert (billing.calls_waiting, billing.callbacks_waiting) == (3, 2)
    assert billing.oldest_callback_wait_seconds == 600.0
    # remaining: a2 45 s (wrap-up), a1 200 + 60 s, a3 a whole call: 300 s; a new caller has
    # 4 routable calls ahead (the held callback is not): a1's second call, 260 + 300
    assert billing.estimated_wait_seconds == 560.0
    assert billing.mean_handle_seconds == 300.0
    rate = 30 / (14 * 60 + 30)  # 14 full minutes and 30 s of this one
    assert billing.arrivals_per_minute == pytest.approx(60 * rate)
    assert billing.service_level == pytest.approx(15 / 25)
    assert (billing.agents_staffed, billing.agents_ready) == (3, 0)
    needed = agents_needed(rate, 300.0, 20.0, 0.8)
    assert needed is not None and needed > 10
    assert (billing.agents_needed, billing.staffing_gap) == (needed, needed - 3)
    assert sales.name == "sales" and sales.estimated_wait_seconds == 0.0
    assert (sales.agents_staffed, sales.agents_ready, sales.agents_needed) == (1, 1, 0)
    assert sales.staffing_gap == -1
    reads = await backlog_reads(resp)
    assert await outlook.queue("billing") == billing
    assert await backlog_reads(resp) == reads  # one queue's outlook reads its own tasks only
    with pytest.raises(NotFound):
        await outlook.queue("nowhere")
    # an unconfigured queue names no skills: anyone serves it, and s1 is free
    elsewhere = msgspec.structs.replace(waiting("c-new", 0), queue="nowhere")
    assert await outlook.call_wait(elsewhere) == 0.0


@pytest.mark.parametrize(
    ("call_id", "expected"),
    [
        ("c-vip", 45.0),  # first in line: a2 is out of wrap-up in 45 s
        ("cb-now", 260.0),  # behind the vip: a1's call ends
        ("c-old", 300.0),  # a3's offered call ends
        ("c-me", 345.0),  # a2 again, after a whole call
        ("cb-later", 300.0),  # one ahead (260 s) but held back for 300 s
    ],
)
async def test_each_waiting_call_by_its_place(
    resp: RespClient, call_id: str, expected: float
) -> None:
    outlook, calls = await contact_center(resp)
    call = await calls.get(call_id)
    assert call is not None
    assert await outlook.call_wait(call) == expected
    talking = msgspec.structs.replace(call, state=CallState.CONNECTED)
    assert await outlook.call_wait(talking) is None


async def test_one_queues_outlook_is_its_outlook_among_every_queue(resp: RespClient) -> None:
    """Read from the queue's lines, it matches the outlook worked out from every waiting
    task: random backlogs of calls, callbacks (due, held back) and text tasks in three
    queues, one of them unconfigured and named with a ':'."""
    outlook, calls = await contact_center(resp)
    await backlog(calls, random.Random(5), 120)
    activity = QueueActivityRepository(resp)  # an hour of traffic, text channels' too
    for key, minutes_ago in (
        ("sales", 3),
        ("vip:line/chat", 10),
        ("vip:line", 12),
        ("sales/sms", 1),
    ):
        traffic = QueueTraffic(
            arrived=7, answered=5, abandoned=1, first_responses=2, first_response_seconds=50.0
        )
        await activity.record(ago(60 * minutes_ago), key, traffic)
    every = await outlook.queues()
    assert {view.name for view in every} == {"billing", "sales", "vip:line"}
    assert all(view.calls_waiting and view.channels and view.arrivals_per_minute for view in every)
    replied = [c for view in every for c in view.channels if c.first_response_seconds]
    assert len(replied) == 2  # vip:line's chats and sales' SMS
    reads = await backlog_reads(resp)
    for view in every:
        assert await outlook.queue(view.name) == view
    assert await backlog_reads(resp) == reads


async def test_one_queue_and_its_calls_read_only_the_agents_who_may_serve_it(
    resp: RespClient,
) -> None:
    agents = CountingAgents(DocumentStore(resp))
    outlook, calls = await contact_center(resp, agents)
    billing = next(view for view in await outlook.queues() if view.name == "billing")
    assert agents.every_read == 1
    call = await calls.get("c-me")
    assert call is not None
    assert await outlook.queue("billing") == billing
    assert await outlook.call_wait(call) == 345.0  # as every agent read gives it
    assert agents.every_read == 1  # the billing agents were read, not every agent
    # a queue that names no skill (an unconfigured one) is served by anyone
    elsewhere = msgspec.structs.replace(call, queue="nowhere")
    assert await outlook.call_wait(elsewhere) == 0.0
    assert agents.every_read == 2


async def backlog_reads(resp: RespClient) -> int:
    """Reads of every waiting task: HSCAN pages of the waiting hash (these backlogs are
    small enough to be one page each)."""
    stats = (await resp.execute("INFO", "commandstats")).decode()
    for line in stats.splitlines():
        if line.startswith("cmdstat_hscan:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


async def test_callers_on_hold_share_one_reading_for_a_while(resp: RespClient) -> None:
    _, calls = await contact_center(resp)
    store = DocumentStore(resp)
    agents, activity = AgentRepository(store), QueueActivityRepository(resp)

    def outlook(hold_reading_seconds: float) -> QueueOutlook:
        return QueueOutlook(
            calls,
            agents,
            activity,
            rules=RulesSource(lambda: RULES),
            clock=FixedClock(),
            hold_reading_seconds=hold_reading_seconds,
        )

    shared = outlook(3600.0)
    me = await calls.get("c-me")
    assert me is not None
    before = await backlog_reads(resp)
    waits = await asyncio.gather(*(shared.held_call_wait(me) for _ in range(10)))
    assert waits == [345.0] * 10  # what call_wait says (the test above)
    assert await backlog_reads(resp) == before + 1  # ten callers on hold, one reading
    for call_id in ("c-vip", "cb-now", "c-old", "c-me", "cb-later"):  # each place in line
        waiting_call = await calls.get(call_id)
        assert waiting_call is not None
        held_wait = await shared.held_call_wait(waiting_call)
        assert held_wait == await shared.call_wait(waiting_call) and held_wait is not None
    # the fresh answers count from the lines: they read no waiting task at all
    assert await backlog_reads(resp) == before + 1
    assert await shared.held_call_wait(msgspec.structs.replace(me, state=CallState.ENDED)) is None

    # a billing agent frees up: a fresh answer sees it, the shared reading does not yet
    await agents.save(None, agent("a9", Activity.IDLE, 0), NOW)
    fresh = await shared.call_wait(me)
    assert fresh is not None and fresh < 345.0
    assert await shared.held_call_wait(me) == 345.0
    # a reading kept no time at all: each ask reads again
    assert await outlook(0.0).held_call_wait(me) == fresh


class MovingClock:
    def __init__(self) -> None:
        self.at = NOW

    def now(self) -> datetime:
        return self.at


async def test_one_instance_takes_each_tick_keeps_its_point_and_publishes_changes(
    resp: RespClient,
) -> None:
    _, calls = await contact_center(resp)
    clock = MovingClock()
    activity = QueueActivityRepository(resp)
    outlook = QueueOutlook(
        calls,
        AgentRepository(DocumentStore(resp)),
        activity,
        rules=RulesSource(lambda: RULES),
        clock=clock,
    )
    bus = EventBus(BusRepository(resp), clock=clock, metrics=Metrics())
    feeds = [OutlookFeed(outlook, activity, bus, clock=clock, metrics=Metrics()) for _ in range(2)]

    async def published() -> list[OutlookUpdated]:
        events = [decode_live_event(raw) for raw in await bus.since(0, 10)]
        return [event for event in events if isinstance(event, OutlookUpdated)]

    assert [await feed.tick() for feed in feeds] == [True, False]
    (first_event,) = await published()  # the first board: news to pages told of none
    history = await outlook.history(["billing", "sales", "empty"])
    (point,) = history["billing"]
    first = await outlook.queues()
    assert point.minute == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert (point.waiting, point.staffed, point.gap) == (3, 3, first[0].staffing_gap)
    assert point.service_level == pytest.approx(0.6)
    assert history["empty"] == []
    assert first_event.data.queues == first

    clock.at = NOW + timedelta(seconds=5)  # the next tick, by the other instance
    await calls.commit(None, waiting("c-new", 1), (), event_id=None, now=clock.at)
    assert [await feed.tick() for feed in reversed(feeds)] == [True, False]
    (_, event) = await published()
    assert event.data.queues == await outlook.queues()
    assert event.data.queues[0].calls_waiting == 4


async def test_a_quiet_contact_center_publishes_its_first_board_then_nothing(
    resp: RespClient,
) -> None:
    clock = MovingClock()
    store = DocumentStore(resp)
    agents = AgentRepository(store)
    await agents.save(None, agent("s1", Activity.IDLE, 60), NOW)
    calls = CallRepository(store, retention=timedelta(days=1), dedupe_window=timedelta(days=1))
    activity = QueueActivityRepository(resp)
    outlook = QueueOutlook(calls, agents, activity, rules=RulesSource(lambda: RULES), clock=clock)
    bus = EventBus(BusRepository(resp), clock=clock, metrics=Metrics())
    feed = OutlookFeed(outlook, activity, bus, clock=clock, metrics=Metrics())
    for seconds in (0, 5, 10, 65):
        clock.at = NOW + timedelta(seconds=seconds)
        assert await feed.tick()
    # the first tick told of the queues; nothing moved after it
    assert len(await bus.since(0, 10)) == 1
    points = await outlook.history(["sales"])
    assert [p.staffed for p in points["sales"]] == [1, 1]  # one point a minute, kept


class LaterClock:
    def now(self) -> datetime:
        return NOW + timedelta(seconds=LATEST_MAX_AGE_SECONDS + 1)


async def test_scrapes_take_the_board_the_last_tick_kept_while_it_is_fresh(
    resp: RespClient,
) -> None:
    outlook, calls = await contact_center(resp)
    assert await outlook.latest() == await outlook.queues()  # no tick yet: computed now
    bus = EventBus(BusRepository(resp), clock=FixedClock(), metrics=Metrics())
    activity = QueueActivityRepository(resp)
    feed = OutlookFeed(outlook, activity, bus, clock=FixedClock(), metrics=Metrics())
    assert await feed.tick()
    kept = await outlook.queues()
    await calls.commit(None, waiting("c-new", 1), (), event_id=None, now=NOW)
    now = await outlook.queues()
    assert now[0].calls_waiting == kept[0].calls_waiting + 1
    assert await outlook.latest() == kept  # what every instance's scrape reports
    agents = AgentRepository(DocumentStore(resp))
    rules = RulesSource(lambda: RULES)
    later = QueueOutlook(calls, agents, activity, rules=rules, clock=LaterClock())
    assert await later.latest() == await later.queues()  # the board is too old: computed
    assert (await later.latest())[0].calls_waiting == now[0].calls_waiting
