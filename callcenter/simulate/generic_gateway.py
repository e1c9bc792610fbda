"""The simulator as a generic gateway: canonical events on `POST /v1/events` with a
gateway token, and the callers' voices on the L16 websocket. The gateway hears of an
answer from the agent's side (as a softphone bridging the call would) and reports it as
`call.answered`."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from callcenter.simulate.api import ServerApi, ServerRefused
from callcenter.simulate.clips import Clip
from callcenter.simulate.ledger import CallRecord, Ledger
from callcenter.simulate.media_stream import stream_l16


class GenericGateway:
    dialect = "generic"

    def __init__(self, api: ServerApi, ledger: Ledger, *, token: str) -> None:
        self._api = api
        self._ledger = ledger
        self._token = token

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
        _, answer = await self._api.request(
            "POST", "/v1/events", json=body, token=self._token, what=kind
        )
        result = answer.get("result", "?") if isinstance(answer, dict) else "?"
        self._ledger.events[kind, str(result)] += 1

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
