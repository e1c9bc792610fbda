"""The inbound Event Socket client: connects, sends `auth <password>` and `event json ...`,
hands each mapped event to `on_event` in order, and reconnects with capped exponential
backoff. ESL has no replay: what FreeSWITCH fires while we are disconnected is lost
(reservation and max-wait timers recover such calls)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Protocol

from callcenter.backoff import Backoff
from callcenter.domain.events import (
    CallEvent,
)
from callcenter.errors import CallcenterError, InvalidInput
from callcenter.gateways.freeswitch.events import (
    CREATED_ON_CREATE,
    CREATED_ON_PARK,
    DEFAULT_AGENT_VARIABLE,
    DIALECT,
    decode_event_json,
    to_canonical,
)
from callcenter.gateways.freeswitch.parser import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_HEADER_BYTES,
    EslMessage,
    EslParser,
    MessageKind,
    ProtocolError,
)
from callcenter.metrics import Metrics

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8021
SUBSCRIBED_EVENTS = ("CHANNEL_CREATE", "CHANNEL_BRIDGE", "CHANNEL_HANGUP_COMPLETE", "HEARTBEAT")
READ_CHUNK_BYTES = 64 * 1024
_TASK = "freeswitch_esl"
_VARIABLE_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")


class EslObserver(Protocol):
    """Who acts on the raw channel events besides the canonical mapping (call control)."""

    @property
    def events(self) -> tuple[str, ...]:
        """Event names to subscribe to besides SUBSCRIBED_EVENTS."""
        ...

    async def connected(self) -> None:
        """Each (re)connection, once subscribed: catch up on what may have been missed."""

    async def observe(self, document: dict[str, object]) -> None:
        """One event-json document, after its canonical event (if any) was applied."""


class SessionEnd(StrEnum):
    """Why one connection ended."""

    UNREACHABLE = "unreachable"
    CLOSED = "closed"
    DISCONNECTED = "disconnected"  # FreeSWITCH said goodbye (text/disconnect-notice)
    TIMEOUT = "timeout"
    PROTOCOL_ERROR = "protocol_error"
    AUTH_REJECTED = "auth_rejected"
    ACL_REJECTED = "acl_rejected"
    SUBSCRIBE_REJECTED = "subscribe_rejected"
    FAILED = "failed"  # an unexpected error, logged with its traceback


_SLOW_RETRY = frozenset(
    {SessionEnd.AUTH_REJECTED, SessionEnd.ACL_REJECTED, SessionEnd.SUBSCRIBE_REJECTED}
)


def reconnect_delay(failures: int, first_seconds: float, max_seconds: float) -> float:
    """The longest wait after `failures` consecutive failed attempts (1, 2, ...): doubling
    from `first_seconds`, capped at `max_seconds` (the wait itself is jittered below it)."""
    return Backoff(first_seconds, max_seconds).ceiling(failures)


class EslConnection:
    """One TCP connection: whole messages in, commands out."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, parser: EslParser
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._parser = parser
        self._pending: deque[EslMessage] = deque()  # at most one read chunk's messages
        self._error: ProtocolError | None = None

    async def receive(self) -> EslMessage | None:
        """The next message; None at end of stream. Raises ProtocolError (after the good
        messages before it) and OSError."""
        while not self._pending:
            if self._error is not None:
                raise self._error
            chunk = await self._reader.read(READ_CHUNK_BYTES)
            if not chunk:
                return None
            try:
                self._pending.extend(self._parser.feed(chunk))
            except ProtocolError as error:
                self._error = error
        return self._pending.popleft()

    async def send(self, command: str) -> None:
        self._writer.write(command.encode() + b"\n\n")
        await self._writer.drain()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(1.0):
                await self._writer.wait_closed()


class EslClient:
    """A long-lived inbound ESL connection to one FreeSWITCH.

    `start()` runs it as an owned task; `await stop()` ends it. Mapped events go to
    `on_event` one at a time, in FreeSWITCH's order (reading pauses meanwhile). Connection
    loss, timeouts and protocol errors reconnect after `reconnect_delay`; a rejected
    password, ACL or subscription is logged as an error and retried every
    `auth_retry_seconds`. Nothing raises out of the task."""

    def __init__(
        self,
        host: str,
        port: int,
        password: str,
        on_event: Callable[[CallEvent], Awaitable[None]],
        *,
        metrics: Metrics,
        agent_variable: str = DEFAULT_AGENT_VARIABLE,
        observer: EslObserver | None = None,
        first_backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 30.0,
        auth_retry_seconds: float = 60.0,
        connect_timeout_seconds: float = 5.0,
        idle_timeout_seconds: float | None = 90.0,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        """Raises ValueError for an unusable argument (the password is never echoed)."""
        if not password or any(c in password for c in "\r\n"):
            raise ValueError("the ESL password must be one non-empty line")
        if not _VARIABLE_NAME.fullmatch(agent_variable):
            raise ValueError("agent_variable must be 1-64 of A-Z a-z 0-9 _")
        if not 0 < port < 65536:
            raise ValueError("port must be 1..65535")
        if auth_retry_seconds <= 0:
            raise ValueError("backoffs must be positive, the first no more than the maximum")
        self._backoff = Backoff(first_backoff_seconds, max_backoff_seconds)  # validates
        EslParser(max_header_bytes=max_header_bytes, max_body_bytes=max_body_bytes)  # validate
        self._host = host
        self._port = port
        self._password = password
        self._on_event = on_event
        self._metrics = metrics
        self._agent_variable = agent_variable
        self._observer = observer
        # with call control, a call is what the dialplan parks; else every inbound leg
        self._created_on = CREATED_ON_PARK if observer is not None else CREATED_ON_CREATE
        self._auth_retry = auth_retry_seconds
        self._connect_timeout = connect_timeout_seconds
        self._idle_timeout = idle_timeout_seconds
        self._limits = (max_header_bytes, max_body_bytes)
        self._task: asyncio.Task[None] | None = None
        self._connected = False
        self._failures = 0

    @property
    def connected(self) -> bool:
        """Authenticated and subscribed right now."""
        return self._connected

    @property
    def failures(self) -> int:
        """Consecutive connection attempts that failed (0 while connected)."""
        return self._failures

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the ESL client is already started")
        self._task = asyncio.create_task(self._run(), name=f"esl {self._host}:{self._port}")

    async def stop(self) -> None:
        """Close the connection and end the task; safe to call more than once."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.wait({task})

    async def _run(self) -> None:
        where = f"{self._host}:{self._port}"
        while True:
            try:
                end, detail = await self._session()
            except Exception:  # the task boundary: log, count, reconnect
                logger.exception("FreeSWITCH ESL session with %s failed", where)
                self._metrics.task_errors_total.labels(_TASK).inc()
                end, detail = SessionEnd.FAILED, "unexpected error"
            was_up, self._connected = self._connected, False
            self._failures = 1 if was_up else self._failures + 1
            if end in _SLOW_RETRY:
                delay = self._auth_retry
                logger.error(
                    "FreeSWITCH ESL at %s refused us (%s: %s); check the ESL password and "
                    "ACL; retrying in %.0f s",
                    where,
                    end,
                    detail,
                    delay,
                )
            else:
                delay = self._backoff.delay(self._failures)
                logger.warning(
                    "FreeSWITCH ESL connection to %s ended (%s: %s); reconnecting in %.1f s",
                    where,
                    end,
                    detail,
                    delay,
                )
            await asyncio.sleep(delay)

    async def _session(self) -> tuple[SessionEnd, str]:
        try:
            async with asyncio.timeout(self._connect_timeout):
                reader, writer = await asyncio.open_connection(self._host, self._port)
        except (OSError, TimeoutError) as error:
            return SessionEnd.UNREACHABLE, str(error) or type(error).__name__
        header_limit, body_limit = self._limits
        parser = EslParser(max_header_bytes=header_limit, max_body_bytes=body_limit)
        connection = EslConnection(reader, writer, parser)
        try:
            async with asyncio.timeout(self._connect_timeout):
                refused = await self._handshake(connection)
            if refused is not None:
                return refused
            self._connected = True
            self._failures = 0
            logger.info("FreeSWITCH ESL at %s:%d: subscribed", self._host, self._port)
            if self._observer is not None:
                await self._guarded(self._observer.connected(), None)
            return await self._pump(connection)
        except ProtocolError as error:
            return SessionEnd.PROTOCOL_ERROR, str(error)
        except TimeoutError:
            return SessionEnd.TIMEOUT, "no data within the timeout"
        except OSError as error:
            return SessionEnd.CLOSED, str(error) or type(error).__name__
        finally:
            await connection.close()

    async def _handshake(self, connection: EslConnection) -> tuple[SessionEnd, str] | None:
        greeting = await connection.receive()
        if greeting is None:
            return SessionEnd.CLOSED, "closed before auth/request"
        if greeting.kind is MessageKind.RUDE_REJECTION:
            return SessionEnd.ACL_REJECTED, greeting.body.decode(errors="replace").strip()
        if greeting.kind is not MessageKind.AUTH_REQUEST:
            raise ProtocolError(f"expected auth/request, got {greeting.kind}")
        await connection.send(f"auth {self._password}")
        reply = await self._command_reply(connection)
        if reply is None:
            return SessionEnd.CLOSED, "closed before the auth reply"
        if not reply.reply_text.startswith("+OK"):
            return SessionEnd.AUTH_REJECTED, reply.reply_text
        extra = self._observer.events if self._observer is not None else ()
        await connection.send("event json " + " ".join((*SUBSCRIBED_EVENTS, *extra)))
        reply = await self._command_reply(connection)
        if reply is None:
            return SessionEnd.CLOSED, "closed before the subscription reply"
        if not reply.reply_text.startswith("+OK"):
            return SessionEnd.SUBSCRIBE_REJECTED, reply.reply_text
        return None

    async def _command_reply(self, connection: EslConnection) -> EslMessage | None:
        while (message := await connection.receive()) is not None:
            if message.kind is MessageKind.COMMAND_REPLY:
                return message
            if message.kind is MessageKind.DISCONNECT_NOTICE:
                return None
            await self.handle_message(message)
        return None

    async def _pump(self, connection: EslConnection) -> tuple[SessionEnd, str]:
        while True:
            async with asyncio.timeout(self._idle_timeout):
                message = await connection.receive()
            if message is None:
                return SessionEnd.CLOSED, "FreeSWITCH closed the connection"
            if message.kind is MessageKind.DISCONNECT_NOTICE:
                return SessionEnd.DISCONNECTED, message.body.decode(errors="replace").strip()
            await self.handle_message(message)

    async def handle_message(self, message: EslMessage) -> None:
        """What the connection does with each message: an event-json is mapped and given to
        `on_event`; a bad event is logged and counted, an error from `on_event` too (a
        CallcenterError, e.g. a conflict, only logged); other messages are ignored."""
        if message.kind is not MessageKind.EVENT_JSON:
            return  # replies to nothing we sent, logs, other formats: not ours
        try:
            document = decode_event_json(message.body)
            event = to_canonical(
                document, agent_variable=self._agent_variable, created_on=self._created_on
            )
        except InvalidInput as error:
            logger.warning("FreeSWITCH event not mapped: %s", error)
            self._metrics.events_total.labels(DIALECT, "unknown", "invalid").inc()
            return
        if event is not None:
            await self._guarded(self._on_event(event), event.call_id)
        if self._observer is not None:
            await self._guarded(self._observer.observe(document), None)

    async def _guarded(self, step: Awaitable[None], call_id: str | None) -> None:
        """Await one step for an event; its failure is logged (and counted unless it is a
        CallcenterError, e.g. a conflict or stale event the service counted), never raised."""
        try:
            await step
        except CallcenterError as error:
            logger.info("FreeSWITCH event not applied: %s", error, extra={"call_id": call_id})
        except Exception:
            logger.exception("handling a FreeSWITCH event failed", extra={"call_id": call_id})
            self._metrics.task_errors_total.labels(_TASK).inc()
