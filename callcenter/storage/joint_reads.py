"""Reads of different repositories sent together: one pipeline, so one write and one reply
on one connection, instead of a round trip each (a dispatch pass starts with the ready
agents and the waiting lines, and every write to a socket costs a system call)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from callcenter.storage.resp import Command, Reply, RespClient, Script

A = TypeVar("A", covariant=True)  # a read giving A serves where a wider type is asked for
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
        if not self.commands:
            return self.parse([])
        return self.parse(await self.client.pipeline_with_scripts(self.commands, self.scripts))

    def mapped(self, then: Callable[[A], B]) -> Read[B]:
        """This read, with `then` applied to what it gives."""
        return Read(
            self.client, self.commands, self.scripts, lambda replies: then(self.parse(replies))
        )

    def joined(self, other: Read[B]) -> Read[tuple[A, B]]:
        """This read and `other` as one (they must be of the same client): their
        commands in one pipeline, their replies parsed in that order."""
        if self.client is not other.client:
            raise ValueError("joint reads must be of one client")
        at = len(self.commands)

        def parse(replies: Sequence[Reply]) -> tuple[A, B]:
            return self.parse(replies[:at]), other.parse(replies[at:])

        return Read(
            self.client,
            [*self.commands, *other.commands],
            [*self.scripts, *other.scripts],
            parse,
        )


async def read_both(first: Read[A], second: Read[B]) -> tuple[A, B]:
    """Both reads in one pipeline (they must be of the same client)."""
    return await first.joined(second).run()
