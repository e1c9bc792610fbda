"""A pub/sub subscription's pieces: what a subscribed connection reads (the confirmation,
then each message), the item that says the subscription is (back) up, and the growing
waits between failed attempts to subscribe."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Literal

from callcenter.backoff import Backoff
from callcenter.storage.resp_connection import Reply

logger = logging.getLogger(__name__)

RETRY = Backoff(0.05, 2.0)  # the project's one retry policy, from 50 ms up to 2 s


@dataclass(frozen=True, slots=True)
class Subscribed:
    """The subscription is up: every message published from now on follows. `again`: it
    was lost and is back, so messages may have been missed meanwhile."""

    again: bool


class Retries:
    """Waits between failed attempts to subscribe (the shared back-off policy); logs the
    first failure and every 20th after it."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._attempt = 0

    async def wait(self, error: Exception) -> None:
        self._attempt += 1
        if self._attempt == 1 or self._attempt % 20 == 0:
            logger.warning("%s: cannot subscribe (%s); retrying", self._what, error)
        await asyncio.sleep(RETRY.delay(self._attempt))

    def reset(self) -> None:
        self._attempt = 0


class ChannelReplies:
    """Sorts what a subscribed connection reads: None when the subscription is confirmed,
    then each message's body. Anything else (and messages before the confirmation) is
    dropped."""

    def __init__(self) -> None:
        self._confirmed = False

    def item(self, reply: Reply) -> bytes | Literal[False] | None:
        """The confirmation (None), a message's body, or False: nothing to hand on."""
        if not isinstance(reply, list) or len(reply) < 3:
            return False
        if reply[0] == b"subscribe":
            self._confirmed = True
            return None
        if reply[0] == b"message" and self._confirmed:
            body: bytes = reply[2]
            return body
        return False
