"""The retry loop of the SaaS REST clients (Twilio, jambonz): send, and on a failure the
service certainly did not act on (a connection that never opened, a 429, a 5xx where the
caller allows it), wait with the one retry policy (honouring a Retry-After in seconds) and
send again, a few times. A request that may have been acted on is never repeated."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import aiohttp

from callcenter.backoff import Backoff

logger = logging.getLogger(__name__)

E = TypeVar("E", bound=Exception)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    retry_after: str | None = None
    reason: str | None = None  # the HTTP reason phrase


@dataclass(frozen=True, slots=True)
class RetryPolicy(Generic[E]):
    """`failure(status, body)` is the error of an answer that is not 2xx; `lost(reason)`
    the error of a request that never got an answer; `retryable(error)` says whether it
    may be sent again."""

    service: str
    backoff: Backoff
    attempts: int
    failure: Callable[[Answer], E]
    lost: Callable[[str], E]
    retryable: Callable[[E], bool]


async def send_with_retries(
    send: Callable[[], Awaitable[Answer]], policy: RetryPolicy[E], subject: str
) -> bytes:
    """The body of the first 2xx answer. Raises the policy's error of the last failure."""
    for attempt in range(1, policy.attempts + 1):
        try:
            answer = await send()
        except aiohttp.ClientConnectorError as error:
            failure = policy.lost(f"cannot connect: {error}")  # it never left: safe again
            retry_after = None
        except (aiohttp.ClientError, TimeoutError) as error:
            raise policy.lost(f"no answer: {error!r}") from error
        else:
            if 200 <= answer.status < 300:
                return answer.body
            failure, retry_after = policy.failure(answer), answer.retry_after
        if not policy.retryable(failure) or attempt == policy.attempts:
            raise failure
        asked = retry_after.strip() if retry_after is not None else ""
        delay = policy.backoff.delay(attempt, at_least=float(asked) if asked.isdigit() else 0.0)
        logger.warning(
            "%s: %s failed (%s); attempt %d of %d in %.2f s",
            policy.service,
            subject,
            failure,
            attempt + 1,
            policy.attempts,
            delay,
        )
        await asyncio.sleep(delay)
    raise AssertionError("unreachable: at least one attempt")  # pragma: no cover
