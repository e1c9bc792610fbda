"""Versioned JSON documents in Redis hashes, and the all-or-nothing commit of a change plan.

Reads are plain HGET; writes go through `commit.lua`, which checks every version read
(optimistic concurrency) so two server instances can never overwrite each other's work."""

from __future__ import annotations

import asyncio
from enum import IntEnum
from importlib import resources
from typing import Any, Generic, TypeVar

import msgspec

from callcenter.storage.joint_reads import Read
from callcenter.storage.resp import Command, Reply, RespClient, Script

T = TypeVar("T")

_ENCODER = msgspec.json.Encoder()
# documents decoded per turn of the event loop by `decode_spread` (5,000 tickets: about
# 1.5 ms, the first time; far less when they are held)
DECODE_SLICE = 5_000


def text(value: bytes | str) -> str:
    """A Redis reply item as text (replies are bytes)."""
    return value.decode() if isinstance(value, bytes) else value


class CommitResult(IntEnum):
    COMMITTED = 1
    DUPLICATE = 0
    CONFLICT = -1


def load_script(name: str) -> Script:
    """The script `lua/<name>.lua` (run by SHA, loaded into Redis on first NOSCRIPT)."""
    source = resources.files("callcenter.storage").joinpath("lua", f"{name}.lua").read_text()
    return Script(source)


class DecodeCache(Generic[T]):
    """Decoded documents by their stored bytes, for reads that fetch many documents that
    mostly did not change since the last read (every ticket, every agent).

    Two generations: documents found go into the young one; once it holds more than
    `limit`, it becomes the old one (the older one is dropped), and a document found
    there moves back into the young one. So a read of more documents than `limit` (every
    ticket, when more are waiting) does not empty the cache for the next read, as one
    dictionary cleared when full would: the next read finds them all in the old one. A
    document is in one generation at most, so reading the same documents again holds no
    more; and it holds at most twice `limit` plus the longest read."""

    def __init__(self, kind: type[T], limit: int = 50_000) -> None:
        self._decoder = msgspec.json.Decoder(kind)
        self._young: dict[bytes, T] = {}
        self._old: dict[bytes, T] = {}
        self._limit = limit

    def __len__(self) -> int:
        """Documents held."""
        return len(self._young) + len(self._old)

    async def decode_spread(self, raws: list[bytes], slice_size: int = DECODE_SLICE) -> list[T]:
        """`decode_all`, `slice_size` documents per turn of the event loop: a read of every
        ticket or every agent (tens of thousands at platform scale) does not hold the loop
        while it is decoded, and requests go on between its slices."""
        if len(raws) <= slice_size:
            return self.decode_all(raws)
        found: list[T] = []
        for at in range(0, len(raws), slice_size):
            if at:
                await asyncio.sleep(0)
            found += self.decode_all(raws[at : at + slice_size])
        return found

    def decode_all(self, raws: list[bytes]) -> list[T]:
        young, old = self._young, self._old
        found = []
        for raw in raws:
            item = young.get(raw)
            if item is None:
                item = old.pop(raw, None)
                if item is None:
                    item = self._decoder.decode(raw)
                young[raw] = item
            found.append(item)
        if len(young) > self._limit:
            self._old, self._young = young, {}
        return found


class CommitPlan:
    """Collects the writes of one atomic change; keys are referenced by position, and the
    values written (documents, tickets) are arguments of their own, referenced by position
    too: the plan Redis decodes holds numbers and names, not the documents, escaped."""

    def __init__(self) -> None:
        self._keys: list[str] = []
        self._index: dict[str, int] = {}
        self._plan: dict[str, list[Any]] = {}
        self._values: dict[bytes | str, int] = {}  # value -> its ARGV index, in order

    def _k(self, key: str) -> int:
        if key not in self._index:
            self._keys.append(key)
            self._index[key] = len(self._keys)
        return self._index[key]

    def _v(self, value: bytes | str) -> int:
        """The argument `value` is (ARGV[1] is the plan; a value given twice is sent once)."""
        at = self._values.get(value)
        if at is None:
            at = self._values[value] = len(self._values) + 2
        return at

    def guard(self, key: str, ttl_seconds: int) -> CommitPlan:
        self._plan["guard"] = [self._k(key), max(1, ttl_seconds)]
        return self

    def put(self, key: str, expected_version: int, document: Any, ttl_seconds: int = -1) -> None:
        """Write `document` (whose version must already be expected + 1)."""
        body = self._v(_ENCODER.encode(document))
        self._plan.setdefault("docs", []).append(
            [self._k(key), expected_version, body, ttl_seconds]
        )

    def delete(self, key: str, expected_version: int) -> None:
        self._plan.setdefault("docs", []).append([self._k(key), expected_version, False, -1])

    def zadd(self, key: str, score: float, member: str, *, only_lower: bool = False) -> None:
        """Add `member`; with `only_lower` an existing member's score only ever decreases."""
        op = "zadd_lt" if only_lower else "zadd"
        self._plan.setdefault(op, []).append([self._k(key), score, member])

    def zrem(self, key: str, member: str) -> None:
        self._plan.setdefault("zrem", []).append([self._k(key), member])

    def sadd(self, key: str, member: str, *, counted_in: str | None = None) -> None:
        """Add `member`; when it was not there, and `counted_in` is given, count the set's
        change there (INCR)."""
        op: list[int | str] = [self._k(key), member]
        if counted_in is not None:
            op.append(self._k(counted_in))
        self._plan.setdefault("sadd", []).append(op)

    def srem(self, key: str, member: str) -> None:
        self._plan.setdefault("srem", []).append([self._k(key), member])

    def ztrim(self, key: str, max_score: float) -> None:
        self._plan.setdefault("ztrim", []).append([self._k(key), max_score])

    def hset(self, key: str, field: str, value: bytes | str) -> None:
        self._plan.setdefault("hset", []).append([self._k(key), field, self._v(value)])

    def hdel(self, key: str, field: str) -> None:
        self._plan.setdefault("hdel", []).append([self._k(key), field])

    def hincrby(
        self, key: str, field: str, *, tagged: tuple[str, bytes | str] | None = None
    ) -> None:
        """Count one more change of `field` (once per plan, however often asked). With
        `tagged` (key, value): set `field` of that key to "<the new count> <value>", what
        made that count; dropped when the field is counted twice in one plan (the count
        then moves by one for two changes, and no one of them made it)."""
        counted: list[list[Any]] = self._plan.setdefault("hincr", [])
        k = self._k(key)
        for op in counted:
            if op[0] == k and op[1] == field:
                del op[2:]
                return
        op = [k, field]
        if tagged is not None:
            op += [self._k(tagged[0]), self._v(tagged[1])]
        counted.append(op)

    def set(self, key: str, value: Any, ttl_seconds: int) -> None:
        """A plain string key (JSON-encoded unless already str) that expires."""
        body = self._v(value if isinstance(value, str) else _ENCODER.encode(value))
        self._plan.setdefault("set", []).append([self._k(key), body, max(1, ttl_seconds)])

    def append(self, key: str, value: Any, *, cap: int, ttl_seconds: int) -> None:
        """Push onto a list (JSON-encoded unless already str), keeping its newest `cap`
        items, and let the list expire `ttl_seconds` after its latest push."""
        body = self._v(value if isinstance(value, str) else _ENCODER.encode(value))
        self._plan.setdefault("append", []).append(
            [self._k(key), body, max(1, cap), max(1, ttl_seconds)]
        )

    @property
    def keys(self) -> list[str]:
        return list(self._keys)

    def arguments(self) -> list[bytes | str]:
        """ARGV of commit.lua: the plan, then the values it refers to."""
        return [_ENCODER.encode(self._plan), *self._values]


class DocumentStore:
    """Loads versioned documents and commits plans. One per Redis client."""

    def __init__(self, client: RespClient) -> None:
        self._client = client
        self._commit = load_script("commit")

    @property
    def client(self) -> RespClient:
        return self._client

    async def load(self, key: str, kind: type[T]) -> T | None:
        raw = await self._client.execute("HGET", key, "d")
        return None if raw is None else msgspec.json.decode(raw, type=kind)

    async def load_many(self, keys: list[str], kind: type[T]) -> list[T | None]:
        if not keys:
            return []
        raws = await self._client.pipeline([("HGET", key, "d") for key in keys])
        return [None if raw is None else msgspec.json.decode(raw, type=kind) for raw in raws]

    async def commit(self, plan: CommitPlan) -> tuple[CommitResult, str | None]:
        """Run the plan; on CONFLICT also return the key that changed. Raises NotReplicated
        when the client must wait for replicas and they do not confirm the commit in time
        (it is on the primary: a retry of the same change finds it)."""
        return (await self.commit_then(plan, None))[0]

    async def commit_then(
        self, plan: CommitPlan, then: Read[T] | None
    ) -> tuple[tuple[CommitResult, str | None], T | None]:
        """`commit`, and `then` after it in the same round trip (its commands run once,
        and must be of the plan's slot: giving up the dispatch turn after a claim); what
        `then` read (None without it)."""
        keys = plan.keys
        command: Command = ["EVALSHA", self._commit.sha, len(keys), *keys, *plan.arguments()]
        after, scripts = (then.commands, then.scripts) if then is not None else ((), ())
        replies = await self._client.pipeline_with_scripts(
            [command, *after], [self._commit, *scripts], acked=True
        )
        found = then.parse(replies[1:]) if then is not None else None
        return _outcome(keys, replies[0]), found


def _outcome(keys: list[str], reply: Reply) -> tuple[CommitResult, str | None]:
    """What commit.lua answered: the result, and on CONFLICT the key that changed."""
    result = CommitResult(int(reply[0]))
    conflicted = keys[int(reply[1]) - 1] if result is CommitResult.CONFLICT else None
    return result, conflicted
