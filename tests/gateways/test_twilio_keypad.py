"""Numbers on a telephone keypad: the country code of a caller's number, a keyed number
made E.164 (international prefixes, national numbers, trunk prefixes), and a number said
digit by digit."""

from __future__ import annotations

import pytest

from callcenter.errors import InvalidInput
from callcenter.gateways.twilio.keypad import country_code, keyed_number, spoken_number


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("+15551230000", "1"),
        ("+74951234567", "7"),
        ("+442071234567", "44"),
        ("+4930123456", "49"),
        ("+35312345678", "353"),
        ("+8613812345678", "86"),
        ("+85212345678", "852"),
        ("15551230000", None),
        ("anonymous", None),
    ],
)
def test_the_country_code_of_a_number(number: str, code: str | None) -> None:
    assert country_code(number) == code


@pytest.mark.parametrize(
    ("digits", "caller", "number"),
    [
        ("5557770001", "+15551230000", "+15557770001"),  # national, North America
        ("15557770001", "+15551230000", "+15557770001"),  # with the trunk 1
        ("011442071234567", "+15551230000", "+442071234567"),  # international from +1
        ("00442071234567", "+15551230000", "+442071234567"),
        ("07700900123", "+442071234567", "+447700900123"),  # UK: trunk 0 dropped
        ("0612345678", "+390612345000", "+390612345678"),  # Italy keeps its 0
        ("0871234567", "+35312345678", "+353871234567"),  # a three-digit country code
    ],
)
def test_a_keyed_number_becomes_e164(digits: str, caller: str, number: str) -> None:
    assert keyed_number(digits, caller) == number


@pytest.mark.parametrize(
    ("digits", "caller", "reason"),
    [
        ("123", "+15551230000", "E.164"),
        ("", "+15551230000", "digits only"),
        ("555*123", "+15551230000", "digits only"),
        ("5557770001", None, "country"),
        ("00" + "1" * 16, "+15551230000", "E.164"),
    ],
)
def test_a_keyed_number_that_cannot_be_called_is_invalid(
    digits: str, caller: str | None, reason: str
) -> None:
    with pytest.raises(InvalidInput, match=reason) as raised:
        keyed_number(digits, caller)
    assert raised.value.pointer == "/Digits"


def test_a_number_is_said_digit_by_digit() -> None:
    assert spoken_number("+15551230000") == "1 5 5 5 1 2 3 0 0 0 0"
