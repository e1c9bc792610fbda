"""Who is calling: bearer tokens (cached briefly) and signed generic webhooks."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta

from callcenter.domain.auth import Principal, RoleKind, parse_role
from callcenter.errors import Unauthorized
from callcenter.gateways.generic import signature as generic
from callcenter.metrics import Metrics
from callcenter.services.clock import Clock
from callcenter.storage.replay import ReplayGuard
from callcenter.storage.tokens import StoredToken, TokenRepository

_CACHE_LIMIT = 10_000


class AuthService:
    def __init__(
        self,
        tokens: TokenRepository,
        replay: ReplayGuard,
        *,
        clock: Clock,
        metrics: Metrics,
        webhook_secret: str,
        tolerance_seconds: int,
        cache_seconds: float,
    ) -> None:
        self._tokens = tokens
        self._replay = replay
        self._clock = clock
        self._metrics = metrics
        self._secret = webhook_secret
        self._tolerance = tolerance_seconds
        self._cache_seconds = cache_seconds
        # token → (principal, monotonic expiry); revocation takes effect within cache_seconds
        self._cache: dict[str, tuple[Principal, float]] = {}

    @property
    def signatures_enabled(self) -> bool:
        return bool(self._secret)

    async def authenticate(self, authorization: str | None) -> Principal:
        """Principal of an `Authorization: Bearer <token>` header; raises Unauthorized."""
        if not authorization:
            self._metrics.auth_failures_total.labels("missing").inc()
            raise Unauthorized("missing Authorization: Bearer <token> header")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            self._metrics.auth_failures_total.labels("malformed").inc()
            raise Unauthorized("Authorization header must be 'Bearer <token>'")
        token = token.strip()
        cached = self._cache.get(token)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        record = await self._tokens.verify(token, self._clock.now())
        if record is None:
            self._cache.pop(token, None)
            self._metrics.auth_failures_total.labels("bad_token").inc()
            raise Unauthorized("token is unknown, revoked or expired")
        principal = parse_role(record.role)
        if self._cache_seconds > 0:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[token] = (principal, time.monotonic() + self._cache_seconds)
        return principal

    async def verify_signed_request(self, headers: Mapping[str, str], body: bytes) -> Principal:
        """A request without a bearer token: its generic-dialect signature headers."""
        signature = headers.get(generic.SIGNATURE_HEADER)
        if not signature:
            raise Unauthorized(f"send a bearer token or a {generic.SIGNATURE_HEADER} signature")
        return await self.verify_webhook(headers.get(generic.TIMESTAMP_HEADER), signature, body)

    async def verify_webhook(
        self, timestamp: str | None, signature: str | None, body: bytes
    ) -> Principal:
        """A generic-dialect signed body acts as the gateway role, once."""
        try:
            digest = generic.check_signature(
                self._secret,
                timestamp,
                signature,
                body,
                now=self._clock.now().timestamp(),
                tolerance_seconds=self._tolerance,
            )
        except Unauthorized:
            self._metrics.auth_failures_total.labels("bad_signature").inc()
            raise
        if not await self._replay.first_use(digest):
            self._metrics.auth_failures_total.labels("replayed").inc()
            raise Unauthorized("this signed request was already received (replay)")
        return Principal(RoleKind.GATEWAY)

    async def create_token(
        self, role: str, label: str, ttl: timedelta | None = None
    ) -> tuple[str, StoredToken]:
        parse_role(role)
        return await self._tokens.create(role, label, self._clock.now(), ttl)

    async def revoke_token(self, token_id: str) -> bool:
        self._cache.clear()
        return await self._tokens.revoke(token_id)
