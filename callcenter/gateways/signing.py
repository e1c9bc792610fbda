"""Webhook signatures as the generic dialect and jambonz both make them: HMAC-SHA256 of
"<Unix seconds>.<raw body>", with the timestamp within a tolerance of our clock."""

from __future__ import annotations

import hashlib
import hmac

from callcenter.errors import Unauthorized

MAX_TIMESTAMP_DIGITS = 12  # Unix seconds until the year 33658: more is not a time


def hmac_hex(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of "<timestamp>.<body>" under `secret`."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def timestamp_in_window(text: str, *, now: float, tolerance_seconds: int, name: str) -> int:
    """`text` as Unix seconds, if it is within `tolerance_seconds` of `now`.

    Raises Unauthorized naming `name` (the header) when it is not plain decimal digits of
    a sane length, or is outside the window."""
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_TIMESTAMP_DIGITS):
        raise Unauthorized(f"{name} must be Unix seconds (up to {MAX_TIMESTAMP_DIGITS} digits)")
    timestamp = int(text)
    if abs(now - timestamp) > tolerance_seconds:
        raise Unauthorized(f"{name} is outside the {tolerance_seconds} s window")
    return timestamp
