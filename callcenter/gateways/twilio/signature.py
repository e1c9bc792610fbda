"""Twilio's webhook signature (X-Twilio-Signature), computed and checked as Twilio does.

Form posts: base64(HMAC(token, url + name1 + value1 + name2 + value2 ...)) with names in
code-point order; a repeated name contributes each distinct value once, values sorted.
JSON posts: the URL carries `bodySHA256=<hex sha256 of the raw body>` and the signature
covers the URL alone. Like Twilio's own RequestValidator, a signature is accepted for the
URL with its port removed or with the scheme's default port added, because Twilio's
signing side is not consistent about ports. The algorithm is HMAC-SHA1 with the account
auth token, or the one a shared key names in X-Twilio-Webhooks-Signature-Settings."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qs, urlparse

SIGNATURE_HEADER = "X-Twilio-Signature"
SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
HMAC_SHA1 = "HMAC_SHA1"
HMAC_SHA256 = "HMAC_SHA256"
_DIGESTS = {HMAC_SHA1: hashlib.sha1, HMAC_SHA256: hashlib.sha256}

# A form body as a mapping (a MultiDict's items() yields every repeated key) or as the
# (name, value) pairs that `urllib.parse.parse_qsl(body, keep_blank_values=True)` returns.
FormParams = Mapping[str, str] | Iterable[tuple[str, str]]


def signature_algorithm(settings_header: str | None) -> str:
    """The algorithm named in X-Twilio-Webhooks-Signature-Settings
    (`key=<id>,algorithm=HMAC_SHA256`); without one, the legacy HMAC_SHA1."""
    for part in (settings_header or "").split(","):
        name, separator, value = part.partition("=")
        if separator and name.strip() == "algorithm" and value.strip():
            return value.strip().upper()
    return HMAC_SHA1


def expected_signature(
    auth_token: str, url: str, params: FormParams | None = None, *, algorithm: str = HMAC_SHA1
) -> str:
    """The X-Twilio-Signature value Twilio sends for `params` posted to exactly `url`.

    Raises ValueError for an algorithm other than HMAC_SHA1 or HMAC_SHA256."""
    digest = _DIGESTS.get(algorithm.upper())
    if digest is None:
        raise ValueError(f"unsupported Twilio signature algorithm {algorithm!r}")
    signed = url + _concatenated(params)
    mac = hmac.new(auth_token.encode(), signed.encode(), digest)
    return base64.b64encode(mac.digest()).decode("ascii")


def validate(
    auth_token: str,
    url: str,
    params_or_body: FormParams | str | bytes | None,
    signature: str | None,
    *,
    algorithm: str = HMAC_SHA1,
) -> bool:
    """Whether `signature` is what Twilio sends for this request.

    `url` is the full URL Twilio requested (scheme, host, path and query exactly as
    configured at Twilio, not as seen behind a proxy). `params_or_body` is the form
    parameters, or the raw body (str or bytes) of a JSON post, whose URL must then carry
    bodySHA256. A missing signature, an unsupported algorithm or an unparsable URL is
    simply invalid: this never raises."""
    if not signature or algorithm.upper() not in _DIGESTS:
        return False
    try:
        return _matches(auth_token, url, params_or_body, signature, algorithm)
    except ValueError:  # a malformed port; text that is not UTF-8 (lone surrogates)
        return False


def _matches(
    auth_token: str,
    url: str,
    params_or_body: FormParams | str | bytes | None,
    signature: str,
    algorithm: str,
) -> bool:
    candidates = _url_variants(url)
    params: FormParams | None
    if isinstance(params_or_body, str | bytes):
        body = params_or_body.encode() if isinstance(params_or_body, str) else params_or_body
        hashes = parse_qs(urlparse(url).query).get("bodySHA256")
        if not hashes or not _same(hashlib.sha256(body).hexdigest(), hashes[0]):
            return False
        params = None
    else:
        params = params_or_body
    matched = False
    for candidate in candidates:
        # no early exit: the time taken does not depend on which variant matched
        expected = expected_signature(auth_token, candidate, params, algorithm=algorithm)
        matched |= _same(expected, signature)
    return matched


def _concatenated(params: FormParams | None) -> str:
    if not params:
        return ""
    pairs = params.items() if isinstance(params, Mapping) else params
    values: dict[str, set[str]] = {}
    for name, value in pairs:
        values.setdefault(name, set()).add(value)
    return "".join(name + value for name in sorted(values) for value in sorted(values[name]))


def _url_variants(url: str) -> list[str]:
    """The URL as given, without its port, and with the scheme's default port when it has
    none (the last two re-serialised by urllib, as Twilio's validator does).

    Raises ValueError for a URL whose port is not a number."""
    parts = urlparse(url)
    port = parts.port  # raises ValueError on a malformed port
    userinfo, at, hostport = parts.netloc.rpartition("@")
    host = hostport if port is None else hostport[: hostport.rindex(":")]
    default = 443 if parts.scheme == "https" else 80
    without_port = parts._replace(netloc=f"{userinfo}{at}{host}").geturl()
    with_port = parts._replace(netloc=f"{userinfo}{at}{host}:{port or default}").geturl()
    return list(dict.fromkeys((url, without_port, with_port)))


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(errors="replace"), b.encode(errors="replace"))
