"""Binding a Twilio Media Stream to its call.

X-Twilio-Signature on the stream's websocket handshake covers only the URL, so it is the
same string for every stream of a deployment. The voice webhook's TwiML therefore gives
the <Stream> three <Parameter>s, which Twilio returns in the `start` message's
customParameters: `call_id`, `binding_expires` (Unix seconds) and `binding`, the hex
HMAC-SHA256, keyed with the account's auth token, of
`twilio-stream-binding:v1:<expires>:<call_id>`. Only the server can make one, and it
names one call until it expires."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from callcenter.errors import InvalidInput
from callcenter.gateways.twilio.twiml import CALL_ID_PARAMETER

EXPIRES_PARAMETER = "binding_expires"
BINDING_PARAMETER = "binding"
# Twilio opens the stream as soon as the TwiML runs; the slack covers clock skew between
# instances and gateways (or the simulator) that open it later in a long call. The call's
# own liveness, checked at `start` too, is the tighter bound.
BINDING_LIFETIME_SECONDS = 3600
_DOMAIN = "twilio-stream-binding:v1"
_MAX_EXPIRES_DIGITS = 12


class StreamBindingInvalid(InvalidInput):
    """The stream's binding parameters are missing, malformed, forged or expired."""


def _mac(auth_token: str, call_id: str, expires: str) -> str:
    # surrogatepass: any str (even one decoded from hostile JSON) encodes, one-to-one
    message = f"{_DOMAIN}:{expires}:{call_id}".encode("utf-8", "surrogatepass")
    return hmac.new(auth_token.encode(), message, hashlib.sha256).hexdigest()


def stream_binding(auth_token: str, call_id: str, *, now: float) -> dict[str, str]:
    """The <Parameter>s (name to value) that, beside `call_id`, bind a stream to that call
    for BINDING_LIFETIME_SECONDS from `now` (Unix seconds). Raises ValueError without a
    token."""
    if not auth_token:
        raise ValueError("binding a stream needs the Twilio auth token")
    expires = str(int(now) + BINDING_LIFETIME_SECONDS)
    return {EXPIRES_PARAMETER: expires, BINDING_PARAMETER: _mac(auth_token, call_id, expires)}


def bound_call_id(auth_token: str, parameters: Mapping[str, str], *, now: float) -> str:
    """The call id a stream's customParameters bind it to, at `now` (Unix seconds).

    Raises StreamBindingInvalid when a parameter is missing or malformed, the binding does
    not match (forged, another call, no token configured) or it has expired."""
    call_id = parameters.get(CALL_ID_PARAMETER, "")
    expires = parameters.get(EXPIRES_PARAMETER, "")
    binding = parameters.get(BINDING_PARAMETER, "")
    if not call_id or not expires or not binding:
        raise StreamBindingInvalid("the stream carries no binding to its call")
    if not (expires.isascii() and expires.isdigit()) or len(expires) > _MAX_EXPIRES_DIGITS:
        raise StreamBindingInvalid("the stream's binding expiry is not a time")
    expected = _mac(auth_token, call_id, expires)
    if not auth_token or not hmac.compare_digest(
        expected.encode(), binding.encode("utf-8", "surrogatepass")
    ):
        raise StreamBindingInvalid("the stream's binding to its call does not match")
    if int(expires) <= now:
        raise StreamBindingInvalid("the stream's binding to its call has expired")
    return call_id
