"""The binding of a Twilio Media Stream to its call: made only with the auth token, for one
call, until it expires; everything else is refused with a reason."""

from __future__ import annotations

import pytest

from callcenter.gateways.twilio.stream_binding import (
    BINDING_LIFETIME_SECONDS,
    BINDING_PARAMETER,
    EXPIRES_PARAMETER,
    StreamBindingInvalid,
    bound_call_id,
    stream_binding,
)
from callcenter.gateways.twilio.twiml import CALL_ID_PARAMETER

TOKEN = "twilio-auth-token"
CALL = "CA" + "ab" * 16
NOW = 1_700_000_000.0


def parameters(call_id: str = CALL, token: str = TOKEN, now: float = NOW) -> dict[str, str]:
    return {CALL_ID_PARAMETER: call_id, **stream_binding(token, call_id, now=now)}


def test_a_binding_names_its_call_until_it_expires() -> None:
    bound = parameters()
    assert set(bound) == {CALL_ID_PARAMETER, EXPIRES_PARAMETER, BINDING_PARAMETER}
    assert bound[EXPIRES_PARAMETER] == str(int(NOW) + BINDING_LIFETIME_SECONDS)
    assert bound_call_id(TOKEN, bound, now=NOW) == CALL
    assert bound_call_id(TOKEN, bound, now=NOW + BINDING_LIFETIME_SECONDS - 1) == CALL
    with pytest.raises(StreamBindingInvalid, match="expired"):
        bound_call_id(TOKEN, bound, now=NOW + BINDING_LIFETIME_SECONDS)


def test_twilio_extra_parameters_are_ignored() -> None:
    assert bound_call_id(TOKEN, {**parameters(), "tenant": "acme"}, now=NOW) == CALL


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({CALL_ID_PARAMETER: "CA" + "cd" * 16}, "does not match"),  # another call's id
        ({EXPIRES_PARAMETER: str(int(NOW) + 10 * BINDING_LIFETIME_SECONDS)}, "does not match"),
        ({BINDING_PARAMETER: "0" * 64}, "does not match"),
        ({BINDING_PARAMETER: parameters(token="another-token")[BINDING_PARAMETER]}, "not match"),
        ({BINDING_PARAMETER: "\ud800"}, "does not match"),
        ({CALL_ID_PARAMETER: "\ud800"}, "does not match"),
        ({EXPIRES_PARAMETER: "-1"}, "not a time"),
        ({EXPIRES_PARAMETER: "1e9"}, "not a time"),
        ({EXPIRES_PARAMETER: "\u0661" * 10}, "not a time"),  # Arabic-Indic digits
        ({EXPIRES_PARAMETER: "9" * 40}, "not a time"),
        ({CALL_ID_PARAMETER: ""}, "no binding"),
        ({EXPIRES_PARAMETER: ""}, "no binding"),
        ({BINDING_PARAMETER: ""}, "no binding"),
    ],
)
def test_a_tampered_binding_is_refused(change: dict[str, str], message: str) -> None:
    with pytest.raises(StreamBindingInvalid, match=message):
        bound_call_id(TOKEN, {**parameters(), **change}, now=NOW)


@pytest.mark.parametrize("name", [CALL_ID_PARAMETER, EXPIRES_PARAMETER, BINDING_PARAMETER], ids=str)
def test_a_missing_parameter_is_refused(name: str) -> None:
    bound = parameters()
    del bound[name]
    with pytest.raises(StreamBindingInvalid, match="no binding"):
        bound_call_id(TOKEN, bound, now=NOW)


def test_without_a_token_nothing_is_bound() -> None:
    with pytest.raises(ValueError, match="auth token"):
        stream_binding("", CALL, now=NOW)
    forged = {CALL_ID_PARAMETER: CALL, **stream_binding("x", CALL, now=NOW)}
    with pytest.raises(StreamBindingInvalid):
        bound_call_id("", forged, now=NOW)
