"""Commands to FreeSWITCH over an inbound event socket connection of their own: `api`
(mod_event_socket answers `api/response` with the command's output) and `bgapi` (answered at
once with `command/reply` "+OK Job-UUID: ..."; the outcome comes later as a BACKGROUND_JOB
event, seen on the event connection). Events are followed on another connection, so an
event's handler can wait for a command's reply without stalling the reader it runs in."""

from __future__ import annotations

import asyncio
import logging

from callcenter.gateways.freeswitch.client import EslConnection
from callcenter.gateways.freeswitch.parser import EslMessage, EslParser, MessageKind, ProtocolError

logger = logging.getLogger(__name__)


class EslCommandError(Exception):
    """FreeSWITCH refused a command ("-ERR ...") or could not be asked."""

    def __init__(self, command: str, reply: str) -> None:
        super().__init__(command, reply)
        self.command = command
        self.reply = reply

    @property
    def no_such_channel(self) -> bool:
        """The channel named is gone (hung up meanwhile): usually nothing to do."""
        return "no such channel" in self.reply.lower()

    def __str__(self) -> str:
        return f"FreeSWITCH `{self.command}`: {self.reply}"


class _Closed(Exception):
    """The connection ended before the reply."""


class EslCommands:
    """One command at a time over a lazily (re)opened, authenticated connection. A command
    sent on a connection that turns out to be dead (FreeSWITCH restarted since) is sent once
    more on a new one; a new connection that fails is the caller's error."""

    def __init__(
        self, host: str, port: int, password: str, *, timeout_seconds: float = 5.0
    ) -> None:
        self._host = host
        self._port = port
        self._password = password
        self._timeout = timeout_seconds
        self._lock = asyncio.Lock()
        self._connection: EslConnection | None = None

    async def api(self, command: str) -> str:
        """The output of `api <command>`. Raises EslCommandError for an output starting with
        -ERR, a refused or unreachable connection, or a command of more than one line."""
        reply = await self._exchange(f"api {_one_line(command)}", MessageKind.API_RESPONSE)
        text = reply.body.decode(errors="replace").strip()
        if text.startswith("-ERR") or text.startswith("-USAGE"):
            raise EslCommandError(_verb(command), text)
        return text

    async def bgapi(self, command: str, job_uuid: str) -> None:
        """Start `command` in the background under our `job_uuid` (its BACKGROUND_JOB event
        carries it). Raises EslCommandError as `api` does."""
        line = f"bgapi {_one_line(command)}\nJob-UUID: {_one_line(job_uuid)}"
        reply = await self._exchange(line, MessageKind.COMMAND_REPLY)
        if not reply.reply_text.startswith("+OK"):
            raise EslCommandError(_verb(command), reply.reply_text)

    async def close(self) -> None:
        async with self._lock:
            await self._drop()

    async def _exchange(self, line: str, expected: MessageKind) -> EslMessage:
        async with self._lock:
            for attempt in (1, 2):
                reused = self._connection is not None
                try:
                    async with asyncio.timeout(self._timeout):
                        connection = self._connection or await self._connect()
                        self._connection = connection
                        await connection.send(line)
                        return await _reply(connection, expected)
                except (OSError, TimeoutError, ProtocolError, _Closed) as error:
                    await self._drop()
                    if reused and attempt == 1:
                        continue
                    reason = f"unreachable: {error or type(error).__name__}"
                    raise EslCommandError(_verb(line), reason) from error
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _connect(self) -> EslConnection:
        reader, writer = await asyncio.open_connection(self._host, self._port)
        connection = EslConnection(reader, writer, EslParser())
        try:
            greeting = await connection.receive()
            if greeting is None or greeting.kind is not MessageKind.AUTH_REQUEST:
                raise _Closed("no auth/request from FreeSWITCH")
            await connection.send(f"auth {self._password}")
            reply = await _reply(connection, MessageKind.COMMAND_REPLY)
            if not reply.reply_text.startswith("+OK"):
                raise EslCommandError("auth", "refused: check the ESL password and ACL")
        except BaseException:
            await connection.close()
            raise
        return connection

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()


async def _reply(connection: EslConnection, expected: MessageKind) -> EslMessage:
    while (message := await connection.receive()) is not None:
        if message.kind is expected:
            return message
        if message.kind in (MessageKind.DISCONNECT_NOTICE, MessageKind.RUDE_REJECTION):
            raise _Closed(message.kind)
    raise _Closed("FreeSWITCH closed the connection")


def _one_line(text: str) -> str:
    # a newline would end the command early and smuggle in another one
    if "\n" in text or "\r" in text:
        raise EslCommandError(_verb(text), "refused: a command is one line")
    return text


def _verb(command: str) -> str:
    words = command.split()
    return " ".join(words[:2]) if words else ""
