"""The generic dialect's webhook signature: HMAC-SHA256 over "<timestamp>.<body>".

Headers: `X-Callcenter-Timestamp` (Unix seconds) and `X-Callcenter-Signature`
(`v1=<hex digest>`, several comma-separated values allowed during secret rotation)."""

from __future__ import annotations

import hmac

from callcenter.errors import Unauthorized
from callcenter.gateways.signing import hmac_hex, timestamp_in_window

TIMESTAMP_HEADER = "X-Callcenter-Timestamp"
SIGNATURE_HEADER = "X-Callcenter-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp`."""
    return "v1=" + hmac_hex(secret, timestamp, body)


def check_signature(
    secret: str,
    timestamp_header: str | None,
    signature_header: str | None,
    body: bytes,
    *,
    now: float,
    tolerance_seconds: int,
) -> str:
    """Verify a signed body; return the matched digest (for replay protection).

    Raises Unauthorized with the reason: missing headers, stale timestamp, bad signature."""
    if not timestamp_header or not signature_header:
        raise Unauthorized(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    timestamp = timestamp_in_window(
        timestamp_header.strip(),
        now=now,
        tolerance_seconds=tolerance_seconds,
        name=TIMESTAMP_HEADER,
    )
    expected = sign(secret, timestamp, body)
    for candidate in signature_header.split(","):
        if hmac.compare_digest(candidate.strip(), expected):
            return expected[3:]
    raise Unauthorized("signature does not match the body")
