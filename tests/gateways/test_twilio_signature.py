"""Our X-Twilio-Signature check accepts exactly what Twilio's own RequestValidator signs."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import MultiDict

# the twilio package ships no type hints; it is only the reference signer here
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from callcenter.gateways.twilio.signature import (
    HMAC_SHA1,
    HMAC_SHA256,
    expected_signature,
    signature_algorithm,
    validate,
)
from tests.conftest import FIXTURES

TOKEN = "12345678901234567890123456789012"
URL = "https://cc.example.com/twilio/voice?tenant=acme&lang=en-US"
TWILIO = RequestValidator(TOKEN)


def _voice_webhook() -> dict[str, str]:
    body = (FIXTURES / "twilio" / "voice_webhook.form").read_text().strip()
    return dict(parse_qsl(body, keep_blank_values=True))


def test_a_recorded_voice_webhook_signed_by_twilio_validates() -> None:
    params = _voice_webhook()
    assert params["ForwardedFrom"] == ""  # blank values are signed too
    signature = TWILIO.compute_signature(URL, params)
    assert expected_signature(TOKEN, URL, params) == signature
    assert validate(TOKEN, URL, params, signature)
    assert validate(TOKEN, URL, list(params.items()), signature)


def test_any_change_to_a_signed_form_is_rejected() -> None:
    params = _voice_webhook()
    signature = TWILIO.compute_signature(URL, params)
    changed_value = {**params, "From": "+12125550198"}
    extra_param = {**params, "Digits": "1"}
    missing_param = {k: v for k, v in params.items() if k != "ForwardedFrom"}
    renamed_param = {("from" if k == "From" else k): v for k, v in params.items()}
    for forged in (changed_value, extra_param, missing_param, renamed_param):
        assert not validate(TOKEN, URL, forged, signature)
    assert not validate(TOKEN, URL.replace("acme", "acne"), params, signature)
    assert not validate(TOKEN, URL.replace("https", "http"), params, signature)
    assert not validate(TOKEN, URL + "&x=1", params, signature)
    assert not validate(TOKEN[:-1] + "3", URL, params, signature)
    assert not validate(TOKEN, URL, params, signature[:-2] + "A=")
    assert not validate(TOKEN, URL, params, "")
    assert not validate(TOKEN, URL, params, None)


def test_repeated_keys_sign_each_distinct_value_once_in_order() -> None:
    params = MultiDict([("Tag", "b"), ("Tag", "a"), ("Tag", "b"), ("Name", "x")])
    signature = TWILIO.compute_signature(URL, params)
    assert expected_signature(TOKEN, URL, params) == signature
    assert expected_signature(TOKEN, URL, list(params.items())) == signature
    assert validate(TOKEN, URL, params, signature)
    # a different set of values for the repeated key is a different request
    assert not validate(TOKEN, URL, [("Tag", "b"), ("Name", "x")], signature)
    assert not validate(TOKEN, URL, [*params.items(), ("Tag", "c")], signature)


def test_unicode_names_and_values() -> None:
    params = {
        "CallerName": "Zo\u00eb \u00d1\u00fa\u00f1ez",
        "\u00c9moji": "\U0001f4de",
        "SpeechResult": "\uc548\ub155\ud558\uc138\uc694",
    }
    signature = TWILIO.compute_signature(URL, params)
    assert expected_signature(TOKEN, URL, params) == signature
    assert validate(TOKEN, URL, params, signature)
    assert not validate(TOKEN, URL, {**params, "CallerName": "Zoe \u00d1\u00fa\u00f1ez"}, signature)


def test_json_body_is_checked_through_body_sha256() -> None:
    body = '{"CallSid":"CA5e2b1c9d0f8a7b6c5d4e3f2a1b0c9d8e","CallStatus":"completed"}'
    url = f"https://cc.example.com/twilio/events?bodySHA256={hashlib.sha256(body.encode()).hexdigest()}"
    signature = TWILIO.compute_signature(url, {})
    assert TWILIO.validate(url, body, signature)
    assert validate(TOKEN, url, body, signature)
    assert validate(TOKEN, url, body.encode(), signature)
    tampered = body.replace("completed", "canceled")
    assert not TWILIO.validate(url, tampered, signature)
    assert not validate(TOKEN, url, tampered, signature)
    # a body posted to a URL without bodySHA256 cannot be checked, so it is refused
    plain = "https://cc.example.com/twilio/events"
    assert not validate(TOKEN, plain, body, TWILIO.compute_signature(plain, {}))


@pytest.mark.parametrize(
    ("signed_url", "seen_url"),
    [
        ("https://cc.example.com/twilio/voice", "https://cc.example.com:443/twilio/voice"),
        ("https://cc.example.com:443/twilio/voice", "https://cc.example.com/twilio/voice"),
        ("http://cc.example.com/twilio/voice?a=1", "http://cc.example.com:80/twilio/voice?a=1"),
        ("https://cc.example.com/twilio/voice", "https://cc.example.com:8443/twilio/voice"),
    ],
)
def test_the_port_may_be_present_or_not(signed_url: str, seen_url: str) -> None:
    params = {"CallSid": "CA5e2b1c9d0f8a7b6c5d4e3f2a1b0c9d8e"}
    signature = TWILIO.compute_signature(signed_url, params)
    assert TWILIO.validate(seen_url, params, signature)
    assert validate(TOKEN, seen_url, params, signature)


def test_a_port_does_not_make_a_different_host_or_path_valid() -> None:
    params = {"CallSid": "CA5e2b1c9d0f8a7b6c5d4e3f2a1b0c9d8e"}
    signature = TWILIO.compute_signature("https://cc.example.com/twilio/voice", params)
    assert not validate(TOKEN, "https://cc.example.org:443/twilio/voice", params, signature)
    assert not validate(TOKEN, "https://cc.example.com:443/twilio/voicE", params, signature)
    assert not validate(TOKEN, "https://cc.example.com:notaport/twilio/voice", params, signature)


def test_shared_key_signatures_use_the_named_algorithm() -> None:
    header = "key=webhooks_sharedkey_01hx,algorithm=HMAC_SHA256"
    assert signature_algorithm(header) == HMAC_SHA256
    assert signature_algorithm(None) == signature_algorithm("key=k") == HMAC_SHA1
    params = _voice_webhook()
    signature = TWILIO.compute_signature(URL, params, HMAC_SHA256)
    assert validate(TOKEN, URL, params, signature, algorithm=HMAC_SHA256)
    assert not validate(TOKEN, URL, params, signature)  # not an HMAC-SHA1 signature
    assert not validate(TOKEN, URL, params, signature, algorithm="HMAC_MD5")
    with pytest.raises(ValueError, match="HMAC_MD5"):
        expected_signature(TOKEN, URL, params, algorithm="HMAC_MD5")


_names = st.text(min_size=1, max_size=12)
_values = st.text(max_size=30)
_pairs = st.lists(st.tuples(_names, _values), max_size=12)
_paths = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.~%", min_size=1, max_size=10),
    max_size=4,
)
_urls = st.builds(
    lambda scheme, host, port, path, query: (
        f"{scheme}://{host}{port}/{'/'.join(path)}" + (f"?{query}" if query else "")
    ),
    st.sampled_from(["https", "http"]),
    st.sampled_from(["cc.example.com", "127.0.0.1", "twilio.internal.example"]),
    st.sampled_from(["", ":443", ":80", ":8080"]),
    _paths,
    st.text(alphabet="abc=&123%+", max_size=12),
)


@settings(max_examples=300)
@given(url=_urls, pairs=_pairs, token=st.text(min_size=1, max_size=40))
def test_random_requests_match_twilio(url: str, pairs: list[tuple[str, str]], token: str) -> None:
    reference = RequestValidator(token)
    params = MultiDict(pairs)
    signature = reference.compute_signature(url, params)
    assert expected_signature(token, url, pairs) == signature
    assert validate(token, url, params, signature) is reference.validate(url, params, signature)
    assert validate(token, url, params, signature)


@settings(max_examples=300)
@given(
    url=_urls,
    pairs=_pairs.filter(bool),
    index=st.integers(min_value=0),
    suffix=st.text(min_size=1, max_size=5),
)
def test_random_changes_are_rejected(
    url: str, pairs: list[tuple[str, str]], index: int, suffix: str
) -> None:
    signature = TWILIO.compute_signature(url, MultiDict(pairs))
    name, value = pairs[index % len(pairs)]
    others = [pair for pair in pairs if pair != (name, value)]
    changed = [*others, (name, value + suffix)]
    if sorted(set(changed)) != sorted(set(pairs)):
        assert not validate(TOKEN, url, changed, signature)
    if (name, value) not in others:
        assert not validate(TOKEN, url, others, signature)  # a parameter left out
    assert not validate(TOKEN, url + "x", pairs, signature)


@pytest.mark.parametrize(
    ("url", "params", "signature"),
    [
        ("https://cc.example.com/\ud800", {"a": "b"}, "c2ln"),
        (URL, {"a": "\udcff"}, "c2ln"),
        (URL + "&bodySHA256=00", "\ud800", "c2ln"),
        (URL, {"a": "b"}, "sig\ud800"),
        ("https://cc.example.com:99999/", {"a": "b"}, "c2ln"),
    ],
)
def test_unencodable_or_malformed_input_is_invalid_not_an_error(
    url: str, params: dict[str, str] | str, signature: str
) -> None:
    assert validate(TOKEN, url, params, signature) is False
