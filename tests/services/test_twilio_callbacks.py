"""The hold menu's words and URLs: what the caller hears of a wait, and the absolute URLs
(with the state they carry) that Twilio is sent back to."""

from __future__ import annotations

import pytest

from callcenter.services.twilio_callbacks import wait_announcement
from tests.media.twilio_peer import menu_urls

PUBLIC = "https://cc.example.com"


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0.0, "Your estimated wait is less than a minute."),
        (59.9, "Your estimated wait is less than a minute."),
        (60.0, "Your estimated wait is about 1 minute."),
        (61.0, "Your estimated wait is about 2 minutes."),
        (600.0, "Your estimated wait is about 10 minutes."),
    ],
)
def test_the_wait_is_said_in_whole_minutes_rounded_up(seconds: float, said: str) -> None:
    assert wait_announcement(seconds) == said


def test_menu_urls_are_absolute_and_carry_their_state() -> None:
    urls = menu_urls(PUBLIC)
    assert urls.hold_after(None) == f"{PUBLIC}/gateways/twilio/hold"
    assert urls.hold_after(1700000000) == f"{PUBLIC}/gateways/twilio/hold?announced=1700000000"
    assert urls.confirm_for("+15551230000") == (
        f"{PUBLIC}/gateways/twilio/callback/confirm?number=15551230000"
    )
