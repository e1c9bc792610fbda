"""The simulator's HTTP client of the server: waiting for it to come up (with back-off and
a clear message when it does not), and the admin calls a run needs (agents, caller
profiles, tokens, metrics, call documents). aiohttp is used as a client here."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

import aiohttp

from callcenter.backoff import Backoff
from callcenter.errors import CallcenterError

logger = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({502, 503, 504})
GONE = (404, 409)  # the offer, call or conversation went away meanwhile: a race, not an error


class ServerUnreachable(CallcenterError):
    def __init__(self, url: str, seconds: float, reason: str) -> None:
        super().__init__(url, seconds, reason)
        self.url = url
        self.seconds = seconds
        self.reason = reason

    def __str__(self) -> str:
        return (
            f"cannot reach the server at {self.url} (tried for {self.seconds:.0f} s: "
            f"{self.reason}); start it with `callcenter serve --dev` or pass --server URL"
        )


class ServerRefused(CallcenterError):
    """The server answered a request with an error the simulator cannot work around."""

    def __init__(self, what: str, status: int, body: str) -> None:
        super().__init__(what, status, body)
        self.what = what
        self.status = status
        self.body = body

    def __str__(self) -> str:
        return f"{self.what}: HTTP {self.status}: {self.body[:300]}"


class ServerApi:
    """Requests to one server with one admin (or supervisor) token."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        token: str,
        *,
        attempts: int = 5,
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._attempts = attempts
        self._delay = Backoff(0.25, 8.0).ceiling
        self._report = report or (lambda line: None)

    def url(self, path: str) -> str:
        return self.base_url + path

    async def wait_ready(self, timeout_seconds: float = 30.0) -> None:
        """Return once /readyz answers 200; raise ServerUnreachable after `timeout_seconds`
        of retries with back-off (each failure reported)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_seconds
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self.session.get(
                    self.url("/readyz"), timeout=aiohttp.ClientTimeout(total=5)
                ) as answer:
                    if answer.status == 200:
                        return
                    reason = f"/readyz answered {answer.status}"
            except (aiohttp.ClientError, TimeoutError) as error:
                reason = _reason(error)
            delay = self._delay(attempt)
            if loop.time() + delay > deadline:
                raise ServerUnreachable(self.base_url, timeout_seconds, reason)
            self._report(f"server {self.base_url} not ready ({reason}); retrying in {delay:.1f} s")
            await asyncio.sleep(delay)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        token: str | None = None,
        anonymous: bool = False,
        ok: tuple[int, ...] = (200, 201, 204),
        what: str = "",
    ) -> tuple[int, Any]:
        """One JSON request (with `token`, else the run's; none if `anonymous`), retried
        with back-off when the connection fails or the server answers 502-504. Returns
        (status, decoded body or None); raises ServerRefused for a status outside `ok` and
        ServerUnreachable when every attempt failed."""
        headers = {"Authorization": f"Bearer {token}"} if token else self._headers
        if anonymous:
            headers = {}
        reason = ""
        for attempt in range(1, self._attempts + 1):
            try:
                async with self.session.request(
                    method, self.url(path), json=json, headers=headers
                ) as answer:
                    body = await answer.read()
                    if answer.status in RETRIED_STATUSES:
                        reason = f"HTTP {answer.status}"
                    elif answer.status in ok:
                        decoded = await answer.json(content_type=None) if body else None
                        return answer.status, decoded
                    else:
                        raise ServerRefused(
                            what or f"{method} {path}", answer.status, body.decode(errors="replace")
                        )
            except (aiohttp.ClientConnectionError, TimeoutError) as error:
                reason = _reason(error)
            if attempt < self._attempts:
                await asyncio.sleep(self._delay(attempt))
        raise ServerUnreachable(self.base_url, 0, f"{method} {path}: {reason}")

    async def accept_offer(self, reservation: str, *, token: str, what: str) -> bool:
        """Accept an offer as an agent; False when it went away meanwhile (a race)."""
        status, _ = await self.request(
            "POST",
            f"/v1/reservations/{reservation}/accept",
            token=token,
            ok=(200, *GONE),
            what=what,
        )
        return status == 200

    async def issue_token(self, role: str, label: str, ttl_seconds: int = 86_400) -> str:
        _, body = await self.request(
            "POST",
            "/v1/admin/tokens",
            json={"role": role, "label": label, "ttl_seconds": ttl_seconds},
            what=f"issuing a {role} token (needs an admin token)",
        )
        token: str = body["token"]
        return token

    async def put_agent(
        self,
        agent_id: str,
        name: str,
        skills: dict[str, int],
        capacity: dict[str, int] | None = None,
    ) -> None:
        body: dict[str, Any] = {"name": name, "skills": skills}
        if capacity is not None:
            body["capacity"] = capacity
        await self.request("PUT", f"/v1/agents/{agent_id}", json=body)

    async def put_caller(self, number: str, profile: dict[str, Any]) -> None:
        await self.request("PUT", f"/v1/callers/{number}", json=profile)

    async def call(self, call_id: str) -> dict[str, Any] | None:
        status, body = await self.request("GET", f"/v1/calls/{call_id}", ok=(200, 404))
        return body if status == 200 else None

    async def metrics(self) -> str:
        async with self.session.get(self.url("/metrics")) as answer:
            if answer.status != 200:
                raise ServerRefused("GET /metrics", answer.status, await answer.text())
            return await answer.text()


def _reason(error: BaseException) -> str:
    if isinstance(error, aiohttp.ClientConnectorError):
        number = error.os_error.errno
        return f"cannot connect: {os.strerror(number) if number else error.os_error}"
    if isinstance(error, TimeoutError):
        return "timed out"
    return str(error) or type(error).__name__
