"""What the simulated PBXs (Asterisk over ARI, FreeSWITCH over the event socket) share: the
simulator serves the PBX's interface itself on a loopback port, the server connects to it
and controls the calls, and a caller is connected when the server has bridged them with an
agent's leg, which the gateway learns by watching its channels. Callers are silent: a
PBX's audio comes by its own means (AudioSocket, mod_audio_fork), which these do not play."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from callcenter.simulate.api import ServerRefused
from callcenter.simulate.clips import Clip
from callcenter.simulate.ledger import CallRecord, Ledger

_WATCH_SECONDS = 0.05


class LoopbackPbx(Protocol):
    @property
    def channels(self) -> Mapping[str, object]: ...

    async def start(self, host: str = ..., port: int = ...) -> object: ...

    async def stop(self) -> None: ...

    async def wait_connected(self, count: int = ..., timeout: float = ...) -> None: ...  # noqa: ASYNC109

    async def hang_up(self, channel_id: str) -> None: ...

    async def incoming_call(
        self,
        caller: str = ...,
        dialed: str = ...,
        /,
        *,
        variables: dict[str, str] | None = ...,
        channel_id: str = ...,
    ) -> str: ...


class PbxGateway:
    dialect = "pbx"
    queue_variable = "cc_queue"  # the channel variable a caller's queue comes in

    def __init__(
        self,
        pbx: LoopbackPbx,
        ledger: Ledger,
        *,
        host: str,
        port: int,
        on_connect: Callable[[str, str], None],
    ) -> None:
        """`on_connect(call id, agent id)` when a caller is bridged with an agent's leg."""
        self._pbx = pbx
        self._ledger = ledger
        self._host = host
        self._port = port
        self._on_connect = on_connect
        self._connected: set[str] = set()
        self._watching: asyncio.Task[None] | None = None

    @property
    def api_url(self) -> str:
        return f"{self._host}:{self._port}"

    @property
    def settings_hint(self) -> str:
        """The server settings that point it at this PBX."""
        return f"its {self.dialect} settings pointing at {self.api_url}"

    @property
    def missing_connect(self) -> str:
        """What it means when an accepted caller is not bridged with the agent."""
        return (
            f"the server bridged no agent leg with the caller: start the server with "
            f"{self.settings_hint}"
        )

    async def start(self) -> None:
        """Serve the PBX's interface. Raises OSError when the port is taken."""
        await self._pbx.start(self._host, self._port)
        self._watching = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        if self._watching is not None:
            self._watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watching
        await self._pbx.stop()

    async def wait_connected(self, seconds: float) -> bool:
        """Whether the server connected to us within `seconds`."""
        try:
            await self._pbx.wait_connected(timeout=seconds)
        except TimeoutError:
            return False
        return True

    async def place(self, record: CallRecord) -> None:
        """A caller from the trunk, naming its queue in a channel variable."""
        plan = record.plan
        await self._pbx.incoming_call(
            plan.caller,
            plan.dialed,
            variables={self.queue_variable: plan.queue},
            channel_id=plan.call_sid,
        )
        self._ledger.events["call.created", "sent"] += 1

    async def answered(self, record: CallRecord, agent_id: str) -> None:
        """Nothing to say: the server bridged the call itself."""

    async def hang_up(self, record: CallRecord) -> None:
        if record.plan.call_sid in self._pbx.channels:
            await self._pbx.hang_up(record.plan.call_sid)
            self._ledger.events["call.ended", "sent"] += 1

    async def speak(self, record: CallRecord, clip: Clip, stop: asyncio.Event) -> None:
        raise ServerRefused("media stream", 0, f"the {self.dialect} gateway sends no audio")

    def bridged(self) -> Iterator[tuple[str, str]]:
        """(caller's channel, agent id) of each caller bridged with an agent's leg now."""
        raise NotImplementedError

    async def _watch(self) -> None:
        while True:
            for caller, agent in list(self.bridged()):
                if caller not in self._connected:
                    self._connected.add(caller)
                    self._on_connect(caller, agent)
            await asyncio.sleep(_WATCH_SECONDS)
