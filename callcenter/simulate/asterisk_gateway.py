"""The simulator as an Asterisk: it serves ARI itself (callcenter.simulate.fake_asterisk, on
--ari-port) and the server, started with CALLCENTER_ASTERISK_ARI_URL pointing at it, runs
its calls as an ARI application. Callers arrive as channels entering the application with
their queue in CC_QUEUE; the server holds them, rings the accepting agent's endpoint and
bridges the two (simulate.pbx_gateway)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from callcenter.simulate.fake_asterisk import FakeAsterisk
from callcenter.simulate.ledger import Ledger
from callcenter.simulate.pbx_gateway import PbxGateway

ENDPOINT_PREFIX = "PJSIP/"  # the server's default CALLCENTER_ASTERISK_AGENT_ENDPOINT


class AsteriskGateway(PbxGateway):
    dialect = "asterisk"
    queue_variable = "CC_QUEUE"  # ari.conf channelvars

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
        self._fake = FakeAsterisk(app=app, username=username, password=password)
        super().__init__(self._fake, ledger, host=host, port=port, on_connect=on_connect)

    @property
    def api_url(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def settings_hint(self) -> str:
        return f"CALLCENTER_ASTERISK_ARI_URL={self.api_url}"

    def bridged(self) -> Iterator[tuple[str, str]]:
        for bridge in list(self._fake.bridges.values()):
            if bridge.bridge_type == "mixing":
                pair = self._caller_and_agent(bridge.channels)
                if pair is not None:
                    yield pair

    def _caller_and_agent(self, channel_ids: list[str]) -> tuple[str, str] | None:
        """A caller (no endpoint: it came from the trunk) with an agent's leg."""
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
