"""The jambonz webhook signature: `Jambonz-Signature: t=<unix seconds>,v1=<hex>`, the hex
being HMAC-SHA256 of "<t>.<raw body>" under the account's webhook secret (several `v1`
values may appear, during a secret rotation)."""

from __future__ import annotations

import hmac
import re

from callcenter.errors import Unauthorized
from callcenter.gateways.signing import hmac_hex, timestamp_in_window

SIGNATURE_HEADER = "Jambonz-Signature"
DEFAULT_TOLERANCE_SECONDS = 300
MAX_SIGNATURE_HEADER_CHARS = 1024
_HEX_DIGEST = re.compile(r"^[0-9a-fA-F]{64}$")


def sign_jambonz(secret: str, timestamp: int, body: bytes) -> str:
    """The `Jambonz-Signature` header value jambonz sends for `body` at `timestamp`."""
    return f"t={timestamp},v1={hmac_hex(secret, timestamp, body)}"


def check_jambonz_signature(
    secret: str,
    header: str | None,
    body: bytes,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> str:
    """Verify a signed webhook body; return the matched digest (for replay protection).

    Raises Unauthorized with the reason: no secret configured, missing or malformed
    header, timestamp outside `tolerance` seconds of `now`, or no matching signature."""
    if not secret:
        raise Unauthorized("no jambonz webhook secret is configured")
    if not header:
        raise Unauthorized(f"missing {SIGNATURE_HEADER} header")
    stamp, signatures = _parse_signature_header(header)
    timestamp = timestamp_in_window(
        stamp, now=now, tolerance_seconds=tolerance, name=f"{SIGNATURE_HEADER} timestamp"
    )
    expected = hmac_hex(secret, timestamp, body)
    matched = False
    for candidate in signatures:
        # compare every candidate, so the time taken does not tell which one matched
        matched |= hmac.compare_digest(candidate.lower(), expected)
    if not matched:
        raise Unauthorized("signature does not match the body")
    return expected


def _parse_signature_header(header: str) -> tuple[str, list[str]]:
    if len(header) > MAX_SIGNATURE_HEADER_CHARS:
        raise Unauthorized(
            f"malformed {SIGNATURE_HEADER}: longer than {MAX_SIGNATURE_HEADER_CHARS}"
        )
    timestamps, signatures = _header_parts(header)
    if len(timestamps) != 1 or not timestamps[0].isascii() or not timestamps[0].isdigit():
        raise Unauthorized(f"malformed {SIGNATURE_HEADER}: needs one t=<Unix seconds>")
    if not signatures or not all(_HEX_DIGEST.match(sig) for sig in signatures):
        raise Unauthorized(f"malformed {SIGNATURE_HEADER}: needs v1=<64 hex digits>")
    return timestamps[0], signatures


def _header_parts(header: str) -> tuple[list[str], list[str]]:
    """The `t` values and the `v1` values of the header, in order; other schemes (e.g. a
    future v2) are ignored, as jambonz's own verifier does."""
    parts: dict[str, list[str]] = {"t": [], "v1": []}
    for part in header.split(","):
        name, equals, value = part.strip().partition("=")
        if not equals:
            raise Unauthorized(f"malformed {SIGNATURE_HEADER}: expected t=<seconds>,v1=<hex>")
        parts.get(name, []).append(value)
    return parts["t"], parts["v1"]
