"""The simulator as a generic gateway: canonical events on `POST /v1/events`, signed
(HMAC-SHA256 over timestamp and body, when the server has a webhook secret) or with a
gateway token, and the callers' voices on the L16 websocket. The gateway hears of an
answer from the agent's side (as a softphone bridging the call would) and reports it as
`call.answered`."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

import aiohttp

from callcenter.backoff import Backoff
from callcenter.simulate.api import ServerApi, ServerRefused, ServerUnreachable
from callcenter.simulate.clips import Clip
from callcenter.simulate.ledger import CallRecord, Ledger
from callcenter.simulate.media_stream import stream_l16

TIMESTAMP_HEADER = "X-Callcenter-Timestamp"
SIGNATURE_HEADER = "X-Callcenter-Signature"
ATTEMPTS = 5


def signed_headers(secret: str, body: bytes, now: float) -> dict[str, str]:
    """`X-Callcenter-Timestamp` and `X-Callcenter-Signature: v1=<hex HMAC-SHA256(secret,
    "<timestamp>.<body>")>`; each is accepted once, so a retry signs again."""
    stamp = str(int(now))
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
    return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: f"v1={mac.hexdigest()}"}


class GenericGateway:
    dialect = "generic"

    def __init__(self, api: ServerApi, ledger: Ledger, *, token: str, secret: str = "") -> None:
        """`secret`: the server's webhook secret (sign events); empty: send the token."""
        self._api = api
        self._ledger = ledger
        self._token = token
        self._secret = secret

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def _event(self, record: CallRecord, kind: str, **fields: Any) -> None:
        plan = record.plan
        body = {
            "type": kind,
            "event_id": f"{plan.call_sid}:{kind}",
            "call_id": plan.call_sid,
            "from": plan.caller,
            "to": plan.dialed,
            "direction": "inbound",
            **fields,
        }
        if self._secret:
            answer = await self._post_signed(json.dumps(body).encode(), kind)
        else:
            _, answer = await self._api.request(
                "POST", "/v1/events", json=body, token=self._token, what=kind
            )
        result = answer.get("result", "?") if isinstance(answer, dict) else "?"
        self._ledger.events[kind, str(result)] += 1

    async def _post_signed(self, body: bytes, what: str) -> Any:
        """Raises ServerRefused for an error answer, ServerUnreachable after the retries."""
        delay = Backoff(0.25, 8.0).ceiling
        reason = ""
        for attempt in range(1, ATTEMPTS + 1):
            headers = {
                "Content-Type": "application/json",
                **signed_headers(self._secret, body, time.time()),
            }
            try:
                async with self._api.session.post(
                    self._api.url("/v1/events"), data=body, headers=headers
                ) as answer:
                    text = await answer.read()
                    if answer.status == 200:
                        return json.loads(text)
                    if answer.status < 500:
                        raise ServerRefused(what, answer.status, text.decode(errors="replace"))
                    reason = f"HTTP {answer.status}"
            except (aiohttp.ClientConnectionError, TimeoutError) as error:
                reason = str(error) or type(error).__name__
            if attempt < ATTEMPTS:
                # a second on: the retry gets a new timestamp, so a new signature (the
                # server takes each signature once; the event id keeps the event single)
                await asyncio.sleep(max(1.0, delay(attempt)))
        raise ServerUnreachable(self._api.base_url, 0, f"POST /v1/events: {reason}")

    async def place(self, record: CallRecord) -> None:
        await self._event(record, "call.created", queue=record.plan.queue)

    async def answered(self, record: CallRecord, agent_id: str) -> None:
        await self._event(record, "call.answered", agent_id=agent_id)

    async def hang_up(self, record: CallRecord) -> None:
        await self._event(record, "call.ended", end_reason="normal")

    async def speak(self, record: CallRecord, clip: Clip, stop: asyncio.Event) -> None:
        """Raises ServerRefused when the server refuses the stream."""
        try:
            await stream_l16(
                self._api.session,
                self._api.url("/media/l16"),
                token=self._token,
                call_id=record.plan.call_sid,
                clip=clip,
                stop=stop,
            )
        except aiohttp.WSServerHandshakeError as error:
            raise ServerRefused("media stream", error.status, error.message) from None
