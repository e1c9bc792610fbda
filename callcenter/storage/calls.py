"""Calls in Redis: the call document, its state index and the event dedupe guard."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar, cast

import msgspec

from callcenter.domain.agents import Agent
from callcenter.domain.callers import CallerHistory
from callcenter.domain.calls import ACTIVE_STATES, Call, CallState
from callcenter.domain.routing import Decision, Ticket
from callcenter.domain.timers import Timer
from callcenter.storage import keys
from callcenter.storage.agents import bump_agent, put_agent
from callcenter.storage.callers import StoredProfile
from callcenter.storage.conversations import CallbackClaim, ConversationWrite, write_conversation
from callcenter.storage.documents import (
    CommitPlan,
    CommitResult,
    DecodeCache,
    DocumentStore,
    load_script,
    text,
)
from callcenter.storage.joint_reads import Read
from callcenter.storage.line_reads import LineReads
from callcenter.storage.places import QueuePlaces
from callcenter.storage.resp import Arg
from callcenter.storage.timers import schedule
from callcenter.storage.waiting_lines import index_waiting, repair_arguments, scan_items

T = TypeVar("T")

# A call that stays active this long without any event is presumed lost by its gateway.
ACTIVE_CALL_TTL = timedelta(days=1)


RESERVATION_GRACE_SECONDS = 60


def _bumped(doc: Call) -> Call:
    return msgspec.structs.replace(doc, version=doc.version + 1)


CALLBACK_CLAIM_TTL = timedelta(days=60)


class CallContext(msgspec.Struct, frozen=True, kw_only=True):
    """A call, the agents it involves and (when asked) its caller, read in one round trip."""

    call: Call | None
    agents: dict[str, Agent]
    profile: StoredProfile | None = None
    history: CallerHistory | None = None
    caller_key: str | None = None  # the customer record the caller's key belongs to


ChangeHook = Callable[
    [Sequence[tuple[Call | None, Call]], Sequence[tuple[Agent | None, Agent]]], None
]
"""on_change(calls, agents): (before, after) pairs of a committed change, after as stored."""

_CALLS = msgspec.json.Decoder(Call)
_AGENTS = msgspec.json.Decoder(Agent)
_PROFILES = msgspec.json.Decoder(StoredProfile)
_HISTORIES = msgspec.json.Decoder(CallerHistory)


class CallRepository:
    def __init__(
        self,
        store: DocumentStore,
        *,
        retention: timedelta,
        dedupe_window: timedelta,
        on_change: ChangeHook | None = None,
    ) -> None:
        """`on_change` is told of every committed change, on the loop, right after it."""
        self._store = store
        self._context = load_script("call_context")
        self._repair_lines = load_script("lines_repair")
        # decoded tickets by their stored bytes: every dispatch pass reads all of them
        self._tickets = DecodeCache(Ticket)
        self.reads = LineReads(store, self._tickets)  # the lines as dispatch reads them
        self.places = QueuePlaces(store, self._tickets)  # a waiting call's place in them
        self._retention = retention
        self._dedupe_window = dedupe_window
        self._on_change = on_change

    async def get(self, call_id: str) -> Call | None:
        return await self._store.load(keys.call(call_id), Call)

    async def load_context(
        self, call_id: str, agent_id: str | None, caller_key: str | None
    ) -> CallContext:
        """The call, its agent, agent `agent_id`, and the profile and history of the
        customer record `caller_key` belongs to (when given), in one pipelined round trip;
        a second when `caller_key` is another identity of a record."""
        client = self._store.client
        call_key, args = keys.call(call_id), [keys.agent(""), agent_id or ""]
        if caller_key is None:
            found = await client.evalsha(self._context, [call_key], args)
            return _context(found, None, None, None)
        context: list[Arg] = ["EVALSHA", self._context.sha, 1, call_key, *args]
        found, alias, profile, history = await client.pipeline_with_scripts(
            [
                context,
                ("GET", keys.caller_alias(caller_key)),
                ("HGET", keys.caller_profile(caller_key), "d"),
                ("HGET", keys.caller_history(caller_key), "d"),
            ],
            [self._context],
        )
        if alias is not None:
            caller_key = text(alias)
            profile, history = await client.pipeline(
                [
                    ("HGET", keys.caller_profile(caller_key), "d"),
                    ("HGET", keys.caller_history(caller_key), "d"),
                ]
            )
        return _context(found, profile, history, caller_key)

    async def get_many(self, call_ids: list[str]) -> list[Call | None]:
        return await self._store.load_many([keys.call(i) for i in call_ids], Call)

    async def get_decided(self, call_ids: list[str]) -> list[Call | None]:
        """`get_many`, for calls a dispatch pass decided on: the first call of a line it
        read comes with the heads, so it costs no round trip of its own."""
        read = self.reads.take_first_calls()
        missing = [call_id for call_id in call_ids if call_id not in read]
        loaded = dict(zip(missing, await self.get_many(missing), strict=True))
        return [
            _CALLS.decode(read[call_id]) if call_id in read else loaded[call_id]
            for call_id in call_ids
        ]

    async def get_agents(self, agent_ids: list[str]) -> dict[str, Agent]:
        found = await self._store.load_many([keys.agent(a) for a in agent_ids], Agent)
        return {agent.id: agent for agent in found if agent is not None}

    async def was_seen(self, event_id: str) -> bool:
        return bool(await self._store.client.execute("EXISTS", keys.event_seen(event_id)))

    async def recent(self, state: CallState | None, limit: int) -> list[Call]:
        """Newest-changed first; all non-ended states when `state` is None."""
        states = [state] if state else sorted(ACTIVE_STATES)
        ids: list[str] = []
        for one in states:
            key = keys.calls_in_state(one)
            members = await self._store.client.execute("ZREVRANGE", key, 0, limit - 1)
            ids.extend(text(member) for member in cast(list[bytes], members))
        calls = await self._store.load_many([keys.call(i) for i in ids], Call)
        found = [c for c in calls if c is not None and (state is None or c.state is state)]
        found.sort(key=lambda c: c.updated_at, reverse=True)
        return found[:limit]

    async def count_by_state(self, states: list[CallState]) -> dict[str, int]:
        counts = await self._store.client.pipeline(
            [("ZCARD", keys.calls_in_state(state)) for state in states]
        )
        return {str(state): count for state, count in zip(states, counts, strict=True)}

    async def commit(
        self,
        old: Call | None,
        new: Call,
        agents: tuple[tuple[Agent, Agent], ...],
        *,
        event_id: str | None,
        now: datetime,
        timers: Sequence[Timer] = (),
        decision: Decision | None = None,
        claim: tuple[str, CallbackClaim | None] | None = None,
        conversation: ConversationWrite | None = None,
    ) -> tuple[CommitResult, str | None]:
        """Store `new` (read as `old`) and the agent changes (old, new) atomically, with the
        indexes they imply, the timers to start and the routing decision to keep; guarded
        by the event's dedupe marker when `event_id` is given. `claim` (a claim key and
        the claim read there) points that key at `new`, unless it changed meanwhile;
        `conversation` adds a text task's messages and thread links (and its guard)."""
        outcome, _ = await self.commit_then(
            None,
            old,
            new,
            agents,
            event_id=event_id,
            now=now,
            timers=timers,
            decision=decision,
            claim=claim,
            conversation=conversation,
        )
        return outcome

    async def commit_then(
        self,
        then: Read[T] | None,
        old: Call | None,
        new: Call,
        agents: tuple[tuple[Agent, Agent], ...],
        *,
        event_id: str | None = None,
        now: datetime,
        timers: Sequence[Timer] = (),
        decision: Decision | None = None,
        claim: tuple[str, CallbackClaim | None] | None = None,
        conversation: ConversationWrite | None = None,
    ) -> tuple[tuple[CommitResult, str | None], T | None]:
        """`commit`, and `then` after it in the same round trip (see `DocumentStore.
        commit_then`: a dispatch pass gives its turn up with its last claim); what `then`
        read (None without it)."""
        plan = CommitPlan()
        if claim is not None:
            _point(plan, new, *claim)
        if event_id is not None:
            plan.guard(keys.event_seen(event_id), int(self._dedupe_window.total_seconds()))
        if conversation is not None:
            write_conversation(
                plan,
                new.id,
                conversation,
                retention=self._retention,
                dedupe_window=self._dedupe_window,
            )
        if new != old:
            self._put_call(plan, old, new, now)
        _put_agents(plan, agents, now)
        for timer in timers:
            schedule(plan, timer)
        if decision is not None:
            plan.set(
                keys.decision(decision.call_id), decision, int(self._retention.total_seconds())
            )
        outcome, found = await self._store.commit_then(plan, then)
        if outcome[0] is CommitResult.COMMITTED and self._on_change is not None:
            self._on_change(*_stored_changes(old, new, agents))
        return outcome, found

    def _put_call(self, plan: CommitPlan, old: Call | None, new: Call, now: datetime) -> None:
        """The call document and every index it is in: by state, waiting, reservation."""
        expected = old.version if old else 0
        ended = new.state is CallState.ENDED
        ttl = self._retention if ended else ACTIVE_CALL_TTL
        plan.put(keys.call(new.id), expected, _bumped(new), int(ttl.total_seconds()))
        _index_state(plan, old, new, now)
        index_waiting(plan, old, new, now)
        _index_reservation(plan, old, new, now)
        if ended:
            oldest_kept = (now - self._retention).timestamp()
            plan.ztrim(keys.calls_in_state(CallState.ENDED), oldest_kept)

    async def waiting(self) -> list[Ticket]:
        """Tickets of every queued call: the waiting hash read a page at a time (HSCAN:
        one HVALS of 50,000 tickets held Redis for about 20 ms, and every other client
        with it), and decoded a slice per turn of the loop. A ticket written during the
        read is as its page saw it, as for a read a moment earlier or later."""
        stored = await scan_items(self._store.client, "HSCAN", keys.WAITING)
        return await self._tickets.decode_spread(list(stored.values()))

    async def build_lines(self) -> int:
        """Put every queued call in its lines, once per store (one written before lines
        existed); the number of calls added (0 when built already). Each ticket is added
        only if still as read; two instances building at once add the same members."""
        client = self._store.client
        if await client.execute("EXISTS", keys.LINES_BUILT):
            return 0
        raw = await client.execute("HGETALL", keys.WAITING)
        back = [
            (text(call_id), body, self._tickets.decode_all([body])[0])
            for call_id, body in zip(raw[::2], raw[1::2], strict=True)
        ]
        touched, args = repair_arguments(back, [])
        added, _ = await client.evalsha(self._repair_lines, touched, args)
        await client.execute("SET", keys.LINES_BUILT, "1")
        return int(added)

    async def callback_claim(self, caller_key: str, queue: str) -> CallbackClaim | None:
        """The latest callback this caller asked for in `queue`, if any."""
        return await self._store.load(keys.callback_claim(caller_key, queue), CallbackClaim)

    async def call_of_reservation(self, reservation_id: str) -> str | None:
        found = await self._store.client.execute("GET", keys.reservation(reservation_id))
        return text(found) if found is not None else None

    async def decision(self, call_id: str) -> Decision | None:
        raw = await self._store.client.execute("GET", keys.decision(call_id))
        return None if raw is None else msgspec.json.decode(raw, type=Decision)


def _point(plan: CommitPlan, new: Call, key: str, read: CallbackClaim | None) -> None:
    """Point `key` at `new`, unless the pointer changed since it was `read`."""
    point = CallbackClaim(call_id=new.id, version=read.version + 1 if read else 1)
    plan.put(key, read.version if read else 0, point, int(CALLBACK_CLAIM_TTL.total_seconds()))


def _put_agents(plan: CommitPlan, agents: tuple[tuple[Agent, Agent], ...], now: datetime) -> None:
    for before, after in agents:
        if after != before:
            put_agent(plan, before, after, now)


def _stored_changes(
    old: Call | None, new: Call, agents: tuple[tuple[Agent, Agent], ...]
) -> tuple[list[tuple[Call | None, Call]], list[tuple[Agent | None, Agent]]]:
    """The (before, after as stored) pairs of a committed change, for the change hook."""
    calls: list[tuple[Call | None, Call]] = [(old, _bumped(new))] if new != old else []
    moved: list[tuple[Agent | None, Agent]] = [
        (before, bump_agent(before, after)) for before, after in agents if after != before
    ]
    return calls, moved


def _index_state(plan: CommitPlan, old: Call | None, new: Call, now: datetime) -> None:
    if old is not None and old.state is not new.state:
        plan.zrem(keys.calls_in_state(old.state), old.id)
    plan.zadd(keys.calls_in_state(new.state), now.timestamp(), new.id)


def _index_reservation(plan: CommitPlan, old: Call | None, new: Call, now: datetime) -> None:
    """A new offer: its id leads to the call until a while after it expires."""
    reservation = new.reservation
    if reservation is not None and (old is None or old.reservation != reservation):
        ttl_seconds = (reservation.expires_at - now).total_seconds() + RESERVATION_GRACE_SECONDS
        plan.set(keys.reservation(reservation.id), new.id, int(ttl_seconds))


def _context(
    found: list[bytes | None],
    profile: bytes | None,
    history: bytes | None,
    caller_key: str | None,
) -> CallContext:
    call = _CALLS.decode(found[0]) if found[0] else None
    agents = [_AGENTS.decode(raw) for raw in found[1:] if raw]
    return CallContext(
        call=call,
        agents={agent.id: agent for agent in agents},
        profile=_PROFILES.decode(profile) if profile else None,
        history=_HISTORIES.decode(history) if history else None,
        caller_key=caller_key,
    )
