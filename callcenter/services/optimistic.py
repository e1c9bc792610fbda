"""Retry of read-compute-commit steps that lost an optimistic-concurrency race."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from callcenter.errors import ConcurrentUpdate

T = TypeVar("T")

MAX_ATTEMPTS = 20


class Retry(Exception):
    """Raised by an attempt whose commit found a changed version."""


async def with_retries(entity: str, entity_id: str, attempt: Callable[[], Awaitable[T]]) -> T:
    """Run `attempt` until it does not raise Retry; back off with jitter between tries.

    Raises ConcurrentUpdate after MAX_ATTEMPTS lost races."""
    for tries in range(MAX_ATTEMPTS):
        try:
            return await attempt()
        except Retry:
            await asyncio.sleep(random.uniform(0, 0.001 * (tries + 1)))
    raise ConcurrentUpdate(entity, entity_id)
