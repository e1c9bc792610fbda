"""One signed JSON POST to the gateway: the generic dialect's HMAC headers
(X-Callcenter-Timestamp, X-Callcenter-Signature) over the exact body sent."""

from __future__ import annotations

import logging

import aiohttp

from callcenter.gateways.generic.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

logger = logging.getLogger(__name__)


async def post_signed(
    session: aiohttp.ClientSession, url: str, secret: str, timestamp: int, payload: bytes
) -> int | None:
    """POST `payload` signed at `timestamp`; the HTTP status, or None on a network error."""
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, payload),
    }
    try:
        async with session.post(url, data=payload, headers=headers) as answer:
            await answer.read()
            return answer.status
    except (aiohttp.ClientError, TimeoutError) as error:
        logger.warning("gateway webhook POST to %s failed: %s", url, error)
        return None
