"""Reads of different repositories sent together: one pipeline, so one write and one reply
on one connection, instead of a round trip each (a dispatch pass starts with the ready
agents and the waiting lines, and every write to a socket costs a system call)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from callcenter.storage.resp import Command, Reply, RespClient, Script

A = TypeVar("A")
B = TypeVar("B")


@dataclass(frozen=True, slots=True)
class Read(Generic[A]):
    """A read as commands, the scripts they run (loaded on NOSCRIPT), and what their
    replies (in order) give."""

    client: RespClient
    commands: Sequence[Command]
    scripts: Sequence[Script]
    parse: Callable[[Sequence[Reply]], A]

    async def run(self) -> A:
        return self.parse(await self.client.pipeline_with_scripts(self.commands, self.scripts))


async def read_both(first: Read[A], second: Read[B]) -> tuple[A, B]:
    """Both reads in one pipeline (they must be of the same client)."""
    if first.client is not second.client:
        raise ValueError("joint reads must be of one client")
    at = len(first.commands)
    replies = await first.client.pipeline_with_scripts(
        [*first.commands, *second.commands], [*first.scripts, *second.scripts]
    )
    return first.parse(replies[:at]), second.parse(replies[at:])
