"""Callers in Redis: the CRM profile and the call history, both versioned documents."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import msgspec

from callcenter.domain.callers import CallerHistory, CallerProfile
from callcenter.storage import keys
from callcenter.storage.documents import CommitPlan, CommitResult, DocumentStore, text

CONTACT_DAYS_KEPT = 30


class StoredProfile(msgspec.Struct, frozen=True, kw_only=True):
    profile: CallerProfile
    version: int = 0


class CallerRepository:
    def __init__(self, store: DocumentStore, *, retention: timedelta) -> None:
        self._store = store
        self._retention = retention

    async def get(self, key: str) -> tuple[StoredProfile | None, CallerHistory | None]:
        profile, history = await self._store.load_many(
            [keys.caller_profile(key), keys.caller_history(key)], msgspec.Raw
        )
        return (
            None if profile is None else msgspec.json.decode(profile, type=StoredProfile),
            None if history is None else msgspec.json.decode(history, type=CallerHistory),
        )

    async def get_history(self, key: str) -> CallerHistory | None:
        return await self._store.load(keys.caller_history(key), CallerHistory)

    async def save_profile(
        self, key: str, old: StoredProfile | None, profile: CallerProfile
    ) -> CommitResult:
        expected = old.version if old else 0
        plan = CommitPlan()
        plan.put(
            keys.caller_profile(key),
            expected,
            StoredProfile(profile=profile, version=expected + 1),
            0,
        )
        result, _ = await self._store.commit(plan)
        return result

    async def save_history(
        self, key: str, old: CallerHistory | None, new: CallerHistory
    ) -> CommitResult:
        expected = old.version if old else 0
        plan = CommitPlan()
        plan.put(
            keys.caller_history(key),
            expected,
            msgspec.structs.replace(new, version=expected + 1),
            int(self._retention.total_seconds()),
        )
        result, _ = await self._store.commit(plan)
        return result

    async def contacted(self, key: str, day: str) -> None:
        """Count customer `key` among the day's contacted customers (for retention)."""
        day_key = keys.contacts_on(day)
        await self._store.client.pipeline(
            [("PFADD", day_key, key), ("EXPIRE", day_key, CONTACT_DAYS_KEPT * 86400)]
        )

    async def primary(self, key: str) -> str:
        """The record `key` belongs to: itself, unless it is another identity of one."""
        found = await self._store.client.execute("GET", keys.caller_alias(key))
        return text(found) if found is not None else key

    async def link(self, primary: str, identities: Sequence[str]) -> None:
        """Make each of `identities` lead to the record `primary` (one key per identity:
        each in its own cluster slot, so they are set one by one)."""
        for identity in identities:
            if identity != primary:
                await self._store.client.execute("SET", keys.caller_alias(identity), primary)

    async def unlink(self, primary: str, identities: Sequence[str]) -> None:
        """Each of `identities` that leads to `primary` no longer does."""
        for identity in identities:
            alias = keys.caller_alias(identity)
            if await self._store.client.execute("GET", alias) == primary.encode():
                await self._store.client.execute("DEL", alias)

    async def delete(self, key: str, identities: Sequence[str] = ()) -> bool:
        """Erase everything stored about a caller (and its identities' links); True if
        there was anything."""
        removed = await self._store.client.execute(
            "DEL", keys.caller_profile(key), keys.caller_history(key)
        )
        for identity in identities:
            await self._store.client.execute("DEL", keys.caller_alias(identity))
        return bool(removed)
