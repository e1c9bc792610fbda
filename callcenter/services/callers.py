"""Caller profiles (upserted by a CRM) and call history (written as calls finish)."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from callcenter.domain import callers as caller_rules
from callcenter.domain.callers import (
    CallerHistory,
    CallerProfile,
    CallerView,
    CallSummary,
    caller_key,
)
from callcenter.domain.calls import Survey
from callcenter.errors import InvalidInput, NotEnded, NotFound
from callcenter.services.clock import Clock
from callcenter.services.optimistic import Retry, with_retries
from callcenter.storage.callers import CallerRepository, StoredProfile
from callcenter.storage.documents import CommitResult


class Missing:
    """Marks "not read yet" where None means "read, and there is none"."""


MISSING = Missing()
MAX_TAGS = 64  # as the profile allows


def normalised(raw: str) -> str:
    """The caller key of a number as sent: 1-256 characters, not all blank (InvalidInput).
    The limit is on what was sent, as the API documents it: lower-casing may lengthen it."""
    key = caller_key(raw)
    if not key or len(raw) > 256:
        raise InvalidInput("caller number must be 1-256 characters, not all blank", "/number")
    return key


class CallerService:
    def __init__(self, repository: CallerRepository, *, clock: Clock) -> None:
        self._repository = repository
        self._clock = clock

    async def view(self, raw_number: str) -> CallerView:
        """Profile and history of a caller (of the record an identity belongs to); NotFound
        if we know nothing of them."""
        return await self._view(await self._repository.primary(normalised(raw_number)))

    async def primary(self, key: str) -> str:
        """The customer record a caller key belongs to (another identity leads to it)."""
        return await self._repository.primary(key)

    async def link(self, key: str, identities: Sequence[str]) -> None:
        """A channel told us more ways to reach customer `key` (a chat that gives a phone
        number and an email): they join the record's identities and lead to it."""
        others = [i for i in dict.fromkeys(caller_key(i) for i in identities) if i and i != key]
        if not others:
            return

        async def attempt() -> None:
            stored, _ = await self._repository.get(key)
            profile = stored.profile if stored else CallerProfile()
            known = [i for i in others if i not in profile.identities]
            if not known:
                return
            merged = [*profile.identities, *known][-caller_rules.MAX_IDENTITIES :]
            updated = msgspec.structs.replace(profile, identities=merged)
            if (
                await self._repository.save_profile(key, stored, updated)
                is not CommitResult.COMMITTED
            ):
                raise Retry

        await with_retries("caller", key, attempt)
        await self._repository.link(key, others)

    async def _view(self, key: str) -> CallerView:
        stored, history = await self._repository.get(key)
        if stored is None and history is None:
            raise NotFound("caller", key)
        profile = stored.profile if stored else None
        return caller_rules.caller_view(key, profile, history, self._clock.now())

    async def upsert_profile(self, raw_number: str, profile: CallerProfile) -> CallerView:
        """Replace a caller's profile; its identities lead to it, the ones it no longer
        lists do not."""
        key = normalised(raw_number)
        before: list[str] = []

        async def attempt() -> None:
            stored, _ = await self._repository.get(key)
            before[:] = stored.profile.identities if stored else []
            if (
                await self._repository.save_profile(key, stored, profile)
                is not CommitResult.COMMITTED
            ):
                raise Retry

        await with_retries("caller", key, attempt)
        identities = [i for i in (caller_key(i) for i in profile.identities) if i]
        dropped = {caller_key(i) for i in before} - set(identities)
        await self._repository.unlink(key, [i for i in dropped if i])
        await self._repository.link(key, identities)
        return await self._view(key)

    async def add_tag(self, key: str, tag: str) -> bool:
        """Tag a caller's profile (an alert's action); False if it had the tag already."""
        added = [False]

        async def attempt() -> None:
            stored, _ = await self._repository.get(key)
            profile = stored.profile if stored else CallerProfile()
            if tag in profile.tags:
                added[0] = False
                return
            tagged = msgspec.structs.replace(profile, tags=[*profile.tags, tag][-MAX_TAGS:])
            if (
                await self._repository.save_profile(key, stored, tagged)
                is not CommitResult.COMMITTED
            ):
                raise Retry
            added[0] = True

        await with_retries("caller", key, attempt)
        return added[0]

    async def erase(self, raw_number: str) -> None:
        key = await self._repository.primary(normalised(raw_number))
        stored, _ = await self._repository.get(key)
        identities = [caller_key(i) for i in stored.profile.identities] if stored else []
        if not await self._repository.delete(key, identities):
            raise NotFound("caller", key)

    def view_of(
        self, key: str, stored: StoredProfile | None, history: CallerHistory | None
    ) -> CallerView | None:
        """The view of a caller read elsewhere; None when nothing is known of them."""
        if stored is None and history is None:
            return None
        profile = stored.profile if stored else None
        return caller_rules.caller_view(key, profile, history, self._clock.now())

    async def record_call(
        self, key: str, summary: CallSummary, read: CallerHistory | Missing | None = MISSING
    ) -> list[CallSummary]:
        """Add a finished call to the caller's history (idempotent by call id). `read` is
        the history as read a moment ago, if it was: it saves a round trip when unchanged.

        Returns the calls this one made unresolved (the caller called again within 7 days),
        each returned once whichever instance records the call."""
        old, new = await self._update(
            key, lambda history: caller_rules.record_call(history, summary), read
        )
        await self._repository.contacted(key, summary.at.date().isoformat())
        return caller_rules.newly_unresolved(old, new)

    async def record_wrap_up(self, key: str, call_id: str, disposition: str, notes: str) -> None:
        """The agent's disposition and notes on a finished call in the caller's history.
        Raises NotEnded when the call is not recorded there yet."""

        def change(history: CallerHistory) -> CallerHistory:
            wrapped = caller_rules.record_wrap_up(history, call_id, disposition, notes)
            if wrapped is None:
                raise NotEnded(call_id)
            return wrapped

        await self._update(key, change, MISSING)

    async def record_survey(self, key: str, call_id: str, survey: Survey) -> None:
        await self._update(key, lambda h: caller_rules.record_survey(h, call_id, survey), MISSING)

    async def record_ending(
        self, key: str, call_id: str, *, sentiment: float | None, excerpt: list[str]
    ) -> None:
        """A finished call's final sentiment and last lines, once its transcript is done
        (nothing until the call is in the history: its end reads both then)."""

        def change(history: CallerHistory) -> CallerHistory:
            if sentiment is not None:
                history = caller_rules.record_sentiment(history, call_id, sentiment)
            return caller_rules.record_excerpt(history, call_id, excerpt)

        await self._update(key, change, MISSING)

    async def record_sentiment(self, key: str, call_id: str, score: float) -> None:
        """Set a finished call's final sentiment in the caller's history (no-op until the
        call is recorded there; idempotent)."""
        await self._update(key, lambda h: caller_rules.record_sentiment(h, call_id, score), MISSING)

    async def _update(
        self, key: str, change: caller_rules.HistoryChange, read: CallerHistory | Missing | None
    ) -> tuple[CallerHistory | None, CallerHistory]:
        """Apply `change` with optimistic retries; the history before and after the change
        that was stored (equal when there was nothing to store)."""
        first = [read]

        async def attempt() -> tuple[CallerHistory | None, CallerHistory]:
            known = first.pop() if first else MISSING
            old = await self._repository.get_history(key) if isinstance(known, Missing) else known
            new = change(old or caller_rules.CallerHistory())
            if old is not None and new == old:
                return old, old
            if await self._repository.save_history(key, old, new) is not CommitResult.COMMITTED:
                raise Retry
            return old, new

        return await with_retries("caller", key, attempt)
