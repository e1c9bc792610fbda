"""Chat session tokens: what one key signed checks out until it expires; anything altered,
signed with another key, or expired is refused with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcenter.domain import chat_tokens
from callcenter.errors import Unauthorized

KEY = b"k" * 32
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TOKEN = chat_tokens.issue(KEY, "t-1234", NOW + timedelta(hours=24))


def test_a_token_names_its_chat_until_it_expires() -> None:
    assert chat_tokens.task_of(KEY, TOKEN, NOW) == "t-1234"
    assert chat_tokens.task_of(KEY, TOKEN, NOW + timedelta(hours=23, minutes=59)) == "t-1234"
    with pytest.raises(Unauthorized, match="expired"):
        chat_tokens.task_of(KEY, TOKEN, NOW + timedelta(hours=24))


@pytest.mark.parametrize(
    "token",
    [
        TOKEN.replace("t-1234", "t-1235"),
        TOKEN[:-1] + ("0" if TOKEN[-1] != "0" else "1"),
        TOKEN.replace(TOKEN.split(".")[1], str(int(TOKEN.split(".")[1]) + 1)),
        chat_tokens.issue(b"another key", "t-1234", NOW + timedelta(hours=24)),
        "",
        "t-1234",
        "t-1234..",
        "t-1234.x." + TOKEN.rpartition(".")[2],
        TOKEN + "." + "0" * 300,
    ],
)
def test_anything_else_is_refused(token: str) -> None:
    with pytest.raises(Unauthorized, match="not a chat session token"):
        chat_tokens.task_of(KEY, token, NOW)


def test_a_task_id_with_a_dot_cannot_be_signed() -> None:
    with pytest.raises(ValueError, match="no dot"):
        chat_tokens.issue(KEY, "t.1", NOW)
