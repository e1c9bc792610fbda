"""API tokens: stored as SHA-256 digests only, revocable, optionally expiring."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import msgspec

from callcenter.storage import keys
from callcenter.storage.documents import CommitPlan, DocumentStore, text

TOKEN_PREFIX = "cc_"


class StoredToken(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    role: str
    label: str
    created_at: datetime
    expires_at: datetime | None = None
    digest: str = ""
    version: int = 0


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    """`cc_<id>.<secret>` → (id, secret), or None when the shape is wrong."""
    if not token.startswith(TOKEN_PREFIX) or "." not in token:
        return None
    token_id, _, secret = token[len(TOKEN_PREFIX) :].partition(".")
    if not token_id or not secret or len(token) > 200:
        return None
    return token_id, secret


class TokenRepository:
    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    async def create(
        self, role: str, label: str, now: datetime, ttl: timedelta | None = None
    ) -> tuple[str, StoredToken]:
        """Issue a token; the plain text is returned once and never stored."""
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(24)
        record = StoredToken(
            id=token_id,
            role=role,
            label=label,
            created_at=now,
            expires_at=now + ttl if ttl else None,
            digest=_digest(secret),
            version=1,
        )
        # listed first, then stored (in one step with its expiry): the token's key and the
        # list are in different Cluster slots, and a listed id without a token is dropped
        # from the list when it is read
        await self._store.client.execute("SADD", keys.TOKENS, token_id)
        plan = CommitPlan()
        plan.put(keys.token(token_id), 0, record, int(ttl.total_seconds()) if ttl else 0)
        await self._store.commit(plan)
        return f"{TOKEN_PREFIX}{token_id}.{secret}", record

    async def verify(self, token: str, now: datetime) -> StoredToken | None:
        """The stored token if `token` is genuine, unexpired and not revoked, else None."""
        parts = split_token(token)
        if parts is None:
            return None
        token_id, secret = parts
        record = await self._store.load(keys.token(token_id), StoredToken)
        if record is None or not hmac.compare_digest(record.digest, _digest(secret)):
            return None
        if record.expires_at is not None and record.expires_at <= now:
            return None
        return record

    async def all(self) -> list[StoredToken]:
        ids = sorted(text(m) for m in await self._store.client.execute("SMEMBERS", keys.TOKENS))
        found = await self._store.load_many([keys.token(i) for i in ids], StoredToken)
        gone = [i for i, record in zip(ids, found, strict=True) if record is None]
        if gone:  # expired ones: their set entries are ours to drop
            await self._store.client.execute("SREM", keys.TOKENS, *gone)
        return [record for record in found if record is not None]

    async def revoke(self, token_id: str) -> bool:
        deleted, _ = await self._store.client.pipeline(
            [["DEL", keys.token(token_id)], ["SREM", keys.TOKENS, token_id]]
        )
        return bool(deleted)
