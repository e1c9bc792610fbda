"""The simulator as a FreeSWITCH: it serves the event socket itself (callcenter.simulate.
fake_freeswitch, on --esl-port) and the server, started with CALLCENTER_FREESWITCH_ESL_HOST
and _PORT pointing at it, follows and controls its calls: callers (their queue in cc_queue,
as a SIP gateway's variables would set it) are parked and hear hold music, the accepting
agent's `user/<agent>` leg is originated and bridged with the caller
(simulate.pbx_gateway)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from callcenter.simulate.fake_freeswitch import FakeFreeswitch
from callcenter.simulate.ledger import Ledger
from callcenter.simulate.pbx_gateway import PbxGateway

AGENT_VARIABLE = "cc_agent_id"  # set by the server on the agent legs it originates


class FreeswitchGateway(PbxGateway):
    dialect = "freeswitch"
    queue_variable = "cc_queue"

    def __init__(
        self,
        ledger: Ledger,
        *,
        host: str,
        port: int,
        password: str,
        on_connect: Callable[[str, str], None],
    ) -> None:
        self._fake = FakeFreeswitch(password=password)
        super().__init__(self._fake, ledger, host=host, port=port, on_connect=on_connect)

    @property
    def settings_hint(self) -> str:
        return (
            f"CALLCENTER_FREESWITCH_ESL_HOST={self._host} "
            f"CALLCENTER_FREESWITCH_ESL_PORT={self._port}"
        )

    def bridged(self) -> Iterator[tuple[str, str]]:
        for channel in list(self._fake.channels.values()):
            if channel.direction != "inbound" or not channel.bridged_to:
                continue
            leg = self._fake.channels.get(channel.bridged_to)
            agent = leg.variables.get(AGENT_VARIABLE) if leg is not None else None
            if agent:
                yield channel.uuid, agent
