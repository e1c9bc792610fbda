"""Counting a client's round trips, or any object's calls of its async methods, in tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from callcenter.storage.resp import RespClient


def count_calls(
    owner: object, names: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> list[int]:
    """The calls of `owner`'s async methods `names` from now on, counted in the
    one-element list returned."""
    counted = [0]

    def counting(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def called(*args: Any, **options: Any) -> Any:
            counted[0] += 1
            return await method(*args, **options)

        return called

    for name in names:
        monkeypatch.setattr(owner, name, counting(getattr(owner, name)))
    return counted


def count_round_trips(resp: RespClient, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The client's round trips from now on: its pipelines and single commands."""
    return count_calls(resp, ("pipeline", "execute"), monkeypatch)
