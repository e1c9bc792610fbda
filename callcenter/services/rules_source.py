"""The routing rules in force, replaced as a whole on reload (a bad reload keeps the old)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from callcenter.domain.routing_rules import RoutingRules

logger = logging.getLogger(__name__)


class RulesSource:
    def __init__(self, load: Callable[[], RoutingRules]) -> None:
        """`load` reads the rules (raising on invalid files); it runs now, once."""
        self._load = load
        self.current = load()

    async def reload(self) -> RoutingRules:
        """Load again off the event loop; on any error keep the rules in force and re-raise."""
        fresh = await asyncio.to_thread(self._load)
        if fresh.version != self.current.version:
            logger.info("routing rules reloaded: version %s", fresh.version)
        self.current = fresh
        return fresh
