"""Where routing decisions go: the port that gateway dialects (and later the event bus)
implement. `route.offered | assigned | queued | overflow | timeout` per DESIGN, and
`callback.accepted` where an accepted offer is a callback: nobody is on the line to bridge
(so no `route.assigned`); the callback service places the call."""

from __future__ import annotations

from typing import Protocol

from callcenter.domain.calls import Call
from callcenter.domain.routing import Decision

CALLBACK_ACCEPTED = "callback.accepted"


class RouteNotifier(Protocol):
    async def route_event(self, kind: str, call: Call, decision: Decision | None) -> None:
        """Deliver one routing event; must not raise and must not block for long."""
        ...


class NoNotifier:
    """No gateway to tell (no webhook URL configured)."""

    async def route_event(self, kind: str, call: Call, decision: Decision | None) -> None:
        return None


class FanOutNotifier:
    """Tells every notifier in turn (the gateway dialects that are configured)."""

    def __init__(self, notifiers: list[RouteNotifier]) -> None:
        self._notifiers = notifiers

    def add(self, notifier: RouteNotifier) -> None:
        """Tell `notifier` too (one built after the services that notify)."""
        self._notifiers.append(notifier)

    async def route_event(self, kind: str, call: Call, decision: Decision | None) -> None:
        for notifier in self._notifiers:
            await notifier.route_event(kind, call, decision)
