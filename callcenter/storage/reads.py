"""Reads that go out together: a read is its commands, the scripts they run, and how its
replies make its answer, so that two reads of different repositories (a dispatch pass
starts with the ready agents and the waiting lines) take one round trip, not two."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from callcenter.storage.resp import Command, Reply, RespClient, Script

T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True, slots=True)
class Read(Generic[T]):
    """Commands to send, the scripts they run (loaded on NOSCRIPT: reads may run twice),
    and the answer their replies make."""

    commands: Sequence[Command]
    scripts: Sequence[Script]
    answer: Callable[[list[Reply]], T]


async def read(client: RespClient, one: Read[T]) -> T:
    """One read, in one round trip."""
    return one.answer(await client.pipeline_with_scripts(one.commands, one.scripts))


async def read_both(client: RespClient, first: Read[T], second: Read[U]) -> tuple[T, U]:
    """Two reads in one round trip (one pipeline), each answered from its own replies."""
    replies = await client.pipeline_with_scripts(
        [*first.commands, *second.commands], [*first.scripts, *second.scripts]
    )
    split = len(first.commands)
    return first.answer(replies[:split]), second.answer(replies[split:])
