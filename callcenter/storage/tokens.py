"""API tokens: stored as SHA-256 digests only, revocable, optionally expiring."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import msgspec

from callcenter.storage import keys
from callcenter.storage.documents import DocumentStore, text

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
        client = self._store.client
        async with client.pipeline(transaction=True) as pipe:
            pipe.hset(keys.token(token_id), mapping={"v": 1, "d": msgspec.json.encode(record)})
            if ttl:
                pipe.expire(keys.token(token_id), int(ttl.total_seconds()))
            pipe.sadd(keys.TOKENS, token_id)
            await pipe.execute()
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
        ids = sorted(text(m) for m in await self._store.client.smembers(keys.TOKENS))
        found = await self._store.load_many([keys.token(i) for i in ids], StoredToken)
        gone = [i for i, record in zip(ids, found, strict=True) if record is None]
        if gone:  # expired ones: their set entries are ours to drop
            await self._store.client.srem(keys.TOKENS, *gone)
        return [record for record in found if record is not None]

    async def revoke(self, token_id: str) -> bool:
        async with self._store.client.pipeline(transaction=True) as pipe:
            pipe.delete(keys.token(token_id))
            pipe.srem(keys.TOKENS, token_id)
            deleted, _ = await pipe.execute()
        return bool(deleted)
