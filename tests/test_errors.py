"""Decoding errors become InvalidInput with the pointer of the bad field: one helper."""

from __future__ import annotations

import msgspec
import pytest

from callcenter.errors import InvalidInput, decoded


class Shape(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    sizes: list[int]


DECODER = msgspec.json.Decoder(Shape)


def test_a_good_document_is_decoded() -> None:
    assert decoded(lambda: DECODER.decode(b'{"name": "a", "sizes": [1]}')) == Shape("a", [1])


@pytest.mark.parametrize(
    ("body", "pointer", "reason"),
    [
        (b'{"name": "a", "sizes": [1, "x"]}', "/sizes/1", "Expected `int`, got `str`"),
        (b'{"sizes": []}', "/name", "Object missing required field `name`"),
        (b'{"name": "a", "sizes": [], "more": 1}', "/more", "Object contains unknown field"),
    ],
)
def test_a_value_that_does_not_fit_names_its_field(body: bytes, pointer: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        decoded(lambda: DECODER.decode(body), context="shape: ")
    assert caught.value.pointer == pointer
    assert caught.value.reason.startswith("shape: " + reason)


@pytest.mark.parametrize("body", [b"{", b"\xff", b"[" * 100_000])
def test_a_malformed_document_says_so(body: bytes) -> None:
    with pytest.raises(InvalidInput) as caught:
        decoded(lambda: msgspec.json.decode(body), malformed="bad frame")
    assert caught.value.reason.startswith("bad frame: ") and caught.value.pointer == ""
