"""The simulator as an Asterisk: it serves ARI itself (callcenter.simulate.fake_asterisk, on
--ari-port) and the server, started with CALLCENTER_ASTERISK_ARI_URL pointing at it, runs
its calls as an ARI application. Callers arrive as channels entering the application; the
server holds them, rings the accepting agent's endpoint and bridges the two. The caller is
connected when the server has bridged them with an agent's leg (what a caller would hear),
which the gateway learns by watching its bridges.

Live audio is not sent: the server takes Asterisk audio over AudioSocket, started from the
dialplan, which this gateway does not play."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from callcenter.simulate.api import ServerRefused
from callcenter.simulate.clips import Clip
from callcenter.simulate.fake_asterisk import FakeAsterisk
from callcenter.simulate.ledger import CallRecord, Ledger

QUEUE_VARIABLE = "CC_QUEUE"
ENDPOINT_PREFIX = "PJSIP/"  # the server's default CALLCENTER_ASTERISK_AGENT_ENDPOINT
_WATCH_SECONDS = 0.05


class AsteriskGateway:
    dialect = "asterisk"

    def __init__(
        self,
        ledger: Ledger,
        *,
        host: str,
        port: int,
        app: str,
        username: str,
        password: str,
        on_connect: Callable[[str, str], None],
    ) -> None:
        """`on_connect(call id, agent id)` when a caller is bridged with an agent's leg."""
        self._ledger = ledger
        self._host = host
        self._port = port
        self._fake = FakeAsterisk(app=app, username=username, password=password)
        self._on_connect = on_connect
        self._connected: set[str] = set()
        self._watching: asyncio.Task[None] | None = None

    @property
    def api_url(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        """Serve ARI. Raises OSError when the port is taken."""
        await self._fake.start(self._host, self._port)
        self._watching = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        if self._watching is not None:
            self._watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watching
        await self._fake.stop()

    async def wait_connected(self, seconds: float) -> bool:
        """Whether the server's ARI application connected within `seconds`."""
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
            variables={QUEUE_VARIABLE: plan.queue},
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
        raise ServerRefused("media stream", 0, "the Asterisk gateway sends no audio")

    async def _watch(self) -> None:
        """Each caller bridged with an agent's leg, once."""
        while True:
            for bridge in list(self._fake.bridges.values()):
                if bridge.bridge_type != "mixing" or len(bridge.channels) < 2:
                    continue
                self._bridged(bridge.channels)
            await asyncio.sleep(_WATCH_SECONDS)

    def _bridged(self, channel_ids: list[str]) -> None:
        """A caller (no endpoint: it came from the trunk) with an agent's leg."""
        pair = self._caller_and_agent(channel_ids)
        if pair is None or pair[0] in self._connected:
            return
        self._connected.add(pair[0])
        self._on_connect(*pair)

    def _caller_and_agent(self, channel_ids: list[str]) -> tuple[str, str] | None:
        caller: str | None = None
        agent: str | None = None
        for channel_id in channel_ids:
            channel = self._fake.channels.get(channel_id)
            if channel is None:
                continue
            if channel.endpoint:
                agent = channel.endpoint.removeprefix(ENDPOINT_PREFIX)
            else:
                caller = channel.id
        return (caller, agent) if caller and agent else None
