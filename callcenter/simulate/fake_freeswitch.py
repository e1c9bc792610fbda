"""A loopback FreeSWITCH event socket (mod_event_socket, inbound) for the tests and the
simulator: the text protocol as FreeSWITCH's documentation gives it (`auth/request`, `auth`,
`event json ...`, `api` answered by `api/response`, `bgapi` answered by `+OK Job-UUID` and
later a BACKGROUND_JOB event, `text/event-json` events with Content-Length), over the channel
model of simulate.fake_freeswitch_state. Driven from Python: calls arrive (and park), hang
up; agent endpoints answer, ring out, are busy or not registered; connections drop or are
refused. Standard library, asyncio and msgspec only; 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field

from callcenter.simulate.fake_freeswitch_state import (
    ENDPOINT_BEHAVIOURS,
    ChannelModel,
    Event,
    FakeChannel,
    parse_originate,
)
from callcenter.simulate.polling import wait_until

__all__ = ["ENDPOINT_BEHAVIOURS", "FakeChannel", "FakeFreeswitch"]


@dataclass(eq=False, slots=True)
class _Client:
    writer: asyncio.StreamWriter
    authenticated: bool = False
    events: set[str] = field(default_factory=set)  # subscribed names; "ALL" for all


class FakeFreeswitch:
    def __init__(self, *, password: str = "ClueCon", ring_seconds: float = 0.05) -> None:
        """`ring_seconds`: how long an agent's endpoint rings before it answers or fails
        (a no_answer endpoint stands for the originate_timeout running out)."""
        self.password = password
        self.ring_seconds = ring_seconds
        self.model = ChannelModel()
        self.commands: list[str] = []  # every command line received after auth, in order
        self.subscriptions = 0  # `event json` commands accepted: event connections made
        self._clients: set[_Client] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._refusing = False
        self.port = 0

    @property
    def channels(self) -> dict[str, FakeChannel]:
        return self.model.channels

    @property
    def connections(self) -> int:
        """Open connections subscribed to events."""
        return sum(1 for c in self._clients if c.events)

    def bridged(self, channel_id: str) -> str:
        """The channel `channel_id` talks to, "" when none."""
        channel = self.channels.get(channel_id)
        return channel.bridged_to if channel is not None else ""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on `host` (a loopback address; ValueError otherwise); the port."""
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the fake FreeSWITCH serves loopback only, not {host}")
        self._server = await asyncio.start_server(self._serve, host, port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            await self.drop_connections()
            await self._server.wait_closed()
            self._server = None

    # --- driving it ------------------------------------------------------------------

    async def incoming_call(
        self,
        caller: str = "+15551230000",
        destination: str = "+15559870000",
        *,
        name: str = "",
        variables: dict[str, str] | None = None,
        park: bool = True,
        channel_id: str = "",
        dialplan: dict[str, str] | None = None,
    ) -> str:
        """A call from the trunk: CHANNEL_CREATE, then (the dialplan's `park`) CHANNEL_PARK.
        `variables` are the channel's from its creation, `dialplan` those the dialplan sets
        before parking it. Its Unique-ID (`channel_id`, else a new uuid)."""
        channel = FakeChannel(
            channel_id or str(uuid.uuid4()),
            "inbound",
            caller,
            name,
            destination,
            dict(variables or {}),
        )
        self._fire(self.model.create(channel))
        channel.variables.update(dialplan or {})
        if park:
            self._fire(self.model.park(channel))
        return channel.uuid

    async def hang_up(self, channel_id: str, cause: str = "NORMAL_CLEARING") -> None:
        """The far end hangs up. KeyError for an unknown channel."""
        if channel_id not in self.channels:
            raise KeyError(channel_id)
        self._fire(self.model.hang_up(channel_id, cause))

    def set_endpoint(self, target: str, behaviour: str) -> None:
        """How a leg originated to `target` (e.g. user/ann) goes: answer (the default),
        no_answer, busy, rejected, not_registered (the originate fails at once)."""
        if behaviour not in ENDPOINT_BEHAVIOURS:
            raise ValueError(f"behaviour is one of {sorted(ENDPOINT_BEHAVIOURS)}")
        self.model.endpoints[target] = behaviour

    async def drop_connections(self) -> None:
        """Cut every connection (events and commands), without a goodbye."""
        for client in list(self._clients):
            transport = client.writer.transport
            transport.abort()
        await self.wait_for(lambda: not self._clients)

    def refuse_connections(self, refuse: bool) -> None:
        """While True, a new connection is closed at once."""
        self._refusing = refuse

    async def send_raw(self, data: bytes) -> None:
        """Bytes, as they are, to every connection subscribed to events."""
        for client in list(self._clients):
            if client.events:
                client.writer.write(data)

    async def wait_connected(self, count: int = 1, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        await self.wait_for(lambda: self.connections >= count, timeout)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Until `predicate()` holds; TimeoutError after `timeout` seconds."""
        await wait_until(predicate, timeout, "the fake FreeSWITCH")

    # --- the wire --------------------------------------------------------------------

    def _fire(self, events: list[Event]) -> None:
        """Each event to every connection subscribed to it, in order."""
        for event in events:
            body = json.dumps(event).encode()
            head = f"Content-Length: {len(body)}\nContent-Type: text/event-json\n\n".encode()
            for client in list(self._clients):
                if "ALL" in client.events or event["Event-Name"] in client.events:
                    client.writer.write(head + body)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._refusing:
            writer.close()
            return
        client = _Client(writer)
        self._clients.add(client)
        try:
            writer.write(b"Content-Type: auth/request\n\n")
            while True:
                block = await reader.readuntil(b"\n\n")
                lines = block.decode().strip("\n").split("\n")
                if not await self._command(client, lines[0], _headers(lines[1:])):
                    break
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            self._clients.discard(client)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _command(self, client: _Client, line: str, headers: dict[str, str]) -> bool:
        """Answer one command; False when the connection is to close."""
        verb, _, rest = line.partition(" ")
        if not client.authenticated:
            if verb != "auth" or rest != self.password:
                _reply(client, "-ERR invalid")
                client.writer.write(b"Content-Type: text/disconnect-notice\nContent-Length: 0\n\n")
                return False
            client.authenticated = True
            _reply(client, "+OK accepted")
            return True
        self.commands.append(line)
        if verb == "event":
            return self._subscribe(client, rest)
        if verb == "api":
            reply, events = self._api(rest)
            body = (reply + "\n").encode()
            client.writer.write(
                f"Content-Type: api/response\nContent-Length: {len(body)}\n\n".encode() + body
            )
            self._fire(events)
        elif verb == "bgapi":
            job = headers.get("Job-UUID") or str(uuid.uuid4())
            client.writer.write(
                f"Content-Type: command/reply\nReply-Text: +OK Job-UUID: {job}\n"
                f"Job-UUID: {job}\n\n".encode()
            )
            self._spawn(self._background(job, rest))
        elif verb == "exit":
            _reply(client, "+OK bye")
            return False
        else:
            _reply(client, "-ERR command not found")
        return True

    def _subscribe(self, client: _Client, rest: str) -> bool:
        form, _, names = rest.partition(" ")
        if form != "json":
            _reply(client, "-ERR only json events here")
            return True
        client.events.update(names.split())
        self.subscriptions += 1
        _reply(client, "+OK event listener enabled json")
        return True

    def _api(self, command: str) -> tuple[str, list[Event]]:
        if command.startswith("originate "):
            return "-ERR only bgapi originate here", []
        return self.model.api(command)

    def _spawn(self, job: Coroutine[None, None, None]) -> None:
        task = asyncio.get_running_loop().create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _background(self, job: str, command: str) -> None:
        verb, _, rest = command.partition(" ")
        if verb == "originate":
            result = await self._originate(rest)
        else:
            result, events = self._api(command)
            self._fire(events)
        done = {
            "Event-Name": "BACKGROUND_JOB",
            "Core-UUID": self.model.core_uuid,
            "Event-Date-Timestamp": str(self.model.now_us()),
            "Job-UUID": job,
            "Job-Command": verb,
            "Job-Command-Arg": rest,
            "_body": result + "\n",
        }
        self._fire([done])

    async def _originate(self, argument: str) -> str:
        order = parse_originate(argument)
        if order is None:
            return "-ERR INVALID_GATEWAY"
        leg, outcome = self.model.originate_leg(order)
        if leg is None:
            return f"-ERR {outcome}"
        self._fire(self.model.create(leg))
        await asyncio.sleep(self.ring_seconds)
        if leg.uuid not in self.channels:  # killed while ringing
            return "-ERR ORIGINATOR_CANCEL"
        if outcome != "answer":
            self._fire(self.model.hang_up(leg.uuid, outcome))
            return f"-ERR {outcome}"
        self._fire(self.model.answer(leg))
        if order.application == "&park()":
            self._fire(self.model.park(leg))
        return f"+OK {leg.uuid}"


def _reply(client: _Client, text: str) -> None:
    client.writer.write(f"Content-Type: command/reply\nReply-Text: {text}\n\n".encode())


def _headers(lines: list[str]) -> dict[str, str]:
    pairs = (line.partition(":") for line in lines)
    return {name.strip(): value.strip() for name, colon, value in pairs if colon}
