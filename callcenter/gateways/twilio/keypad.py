"""Phone numbers on a telephone keypad: a number a caller keyed in (DTMF digits) as E.164,
and a number as <Say> reads it back, digit by digit.

A keyed number is international when it starts with 00 (or 011 for a caller in the North
American plan); otherwise it is national to the caller: the caller's country code goes in
front, after dropping one trunk prefix (a leading 0; a leading 1 of an 11-digit North
American number; Italy, San Marino and the Vatican keep their 0)."""

from __future__ import annotations

from callcenter.domain.callbacks import check_number
from callcenter.errors import InvalidInput

# ITU-T E.164 country codes of one and two digits; every other code has three. The codes
# form a prefix code, so these two sets are all it takes to split one off a number.
_SHORT_CODES = frozenset(
    "1 7 20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 "
    "60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98".split()
)
_KEEPS_TRUNK_ZERO = frozenset({"39", "378", "379"})
NANP = "1"
MAX_KEYED_DIGITS = 15


def country_code(number: str) -> str | None:
    """The country code of an E.164 number (`+15551230000` → `1`); None for anything else."""
    if not number.startswith("+") or not number[1:].isdigit() or len(number) < 4:
        return None
    digits = number[1:]
    for size in (1, 2):
        if digits[:size] in _SHORT_CODES:
            return digits[:size]
    return digits[:3]


def keyed_number(digits: str, caller: str | None, pointer: str = "/Digits") -> str:
    """The E.164 number meant by `digits` keyed in by `caller` (the caller's own number,
    whose country a national number belongs to). Raises InvalidInput naming `pointer` for
    keys that are not digits, or a result that is not an E.164 number."""
    if not digits.isascii() or not digits.isdigit() or len(digits) > MAX_KEYED_DIGITS + 3:
        raise InvalidInput("a number is keyed as digits only", pointer)
    home = country_code(caller or "")
    if digits.startswith("00"):
        return check_number("+" + digits[2:], pointer)
    if home == NANP and digits.startswith("011"):
        return check_number("+" + digits[3:], pointer)
    if home is None:
        raise InvalidInput("a national number needs the caller's country: key 00 first", pointer)
    return check_number(f"+{home}{_national(digits, home)}", pointer)


def spoken_number(number: str) -> str:
    """`+15551230000` → "1 5 5 5 1 2 3 0 0 0 0": <Say> reads each digit on its own."""
    return " ".join(character for character in number if character.isdigit())


def _national(digits: str, home: str) -> str:
    if home == NANP:
        return digits[1:] if len(digits) == 11 and digits.startswith("1") else digits
    if home not in _KEEPS_TRUNK_ZERO and digits.startswith("0"):
        return digits[1:]
    return digits
