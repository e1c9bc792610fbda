"""The simulator as a FreeSWITCH: it serves the event socket itself (callcenter.simulate.
fake_freeswitch, on --esl-port) and the server, started with CALLCENTER_FREESWITCH_ESL_HOST
and _PORT pointing at it, follows and controls its calls: callers are parked and hear hold
music, the accepting agent's `user/<agent>` leg is originated and bridged with the caller.
The caller is connected when the server has bridged them with an agent's leg, which the
gateway learns by watching its channels.

Live audio is not sent: the server takes FreeSWITCH audio from mod_audio_fork, which this
gateway does not play."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from callcenter.simulate.api import ServerRefused
from callcenter.simulate.clips import Clip
from callcenter.simulate.fake_freeswitch import FakeFreeswitch
from callcenter.simulate.ledger import CallRecord, Ledger

QUEUE_VARIABLE = "cc_queue"
AGENT_VARIABLE = "cc_agent_id"  # set by the server on the agent legs it originates
_WATCH_SECONDS = 0.05


class FreeswitchGateway:
    dialect = "freeswitch"

    def __init__(
        self,
        ledger: Ledger,
        *,
        host: str,
        port: int,
        password: str,
        on_connect: Callable[[str, str], None],
    ) -> None:
        """`on_connect(call id, agent id)` when a caller is bridged with an agent's leg."""
        self._ledger = ledger
        self._host = host
        self._port = port
        self._fake = FakeFreeswitch(password=password)
        self._on_connect = on_connect
        self._connected: set[str] = set()
        self._watching: asyncio.Task[None] | None = None

    @property
    def api_url(self) -> str:
        return f"{self._host}:{self._port}"

    async def start(self) -> None:
        """Serve the event socket. Raises OSError when the port is taken."""
        await self._fake.start(self._host, self._port)
        self._watching = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        if self._watching is not None:
            self._watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watching
        await self._fake.stop()

    async def wait_connected(self, seconds: float) -> bool:
        """Whether the server subscribed to our events within `seconds`."""
        try:
            await self._fake.wait_connected(timeout=seconds)
        except TimeoutError:
            return False
        return True

    async def place(self, record: CallRecord) -> None:
        plan = record.plan
        await self._fake.incoming_call(
            plan.caller,
            plan.dialed,
            variables={QUEUE_VARIABLE: plan.queue},  # as a SIP gateway's <variables> set it
            channel_id=plan.call_sid,
        )
        self._ledger.events["call.created", "sent"] += 1

    async def answered(self, record: CallRecord, agent_id: str) -> None:
        """Nothing to say: the server bridged the call itself."""

    async def hang_up(self, record: CallRecord) -> None:
        if record.plan.call_sid in self._fake.channels:
            await self._fake.hang_up(record.plan.call_sid)
            self._ledger.events["call.ended", "sent"] += 1

    async def speak(self, record: CallRecord, clip: Clip, stop: asyncio.Event) -> None:
        raise ServerRefused("media stream", 0, "the FreeSWITCH gateway sends no audio")

    async def _watch(self) -> None:
        """Each caller bridged with an agent's leg, once."""
        while True:
            for channel in list(self._fake.channels.values()):
                if channel.direction == "inbound" and channel.uuid not in self._connected:
                    self._bridged(channel.uuid, channel.bridged_to)
            await asyncio.sleep(_WATCH_SECONDS)

    def _bridged(self, caller: str, leg_id: str) -> None:
        leg = self._fake.channels.get(leg_id) if leg_id else None
        agent = leg.variables.get(AGENT_VARIABLE) if leg is not None else None
        if agent:
            self._connected.add(caller)
            self._on_connect(caller, agent)
