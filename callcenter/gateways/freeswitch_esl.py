"""The FreeSWITCH dialect: an inbound Event Socket (ESL) client whose channel events become
canonical call events.

Three layers, each usable alone. EslParser is a pure, incremental parser of what
mod_event_socket writes: a block of "Name: value" lines ended by an empty line, then exactly
Content-Length body bytes when that header is present. to_canonical / map_event_json turn one
`text/event-json` body into at most one canonical event. EslClient connects, sends
`auth <password>` and `event json ...`, hands each mapped event to `on_event` in order, and
reconnects with capped exponential backoff. ESL has no replay: what FreeSWITCH fires while we
are disconnected is lost (reservation and max-wait timers recover such calls).

The canonical call is the caller's leg, the inbound channel (`Call-Direction: inbound`);
`call_id` is its Unique-ID. `event_id` is "freeswitch:<Unique-ID>:<Event-Name>:<Event-Sequence>"
(Unique-ID is a fresh uuid per channel, so the sequence resetting at a restart is harmless):
the same event seen twice (several instances subscribed) is a duplicate.

- CHANNEL_CREATE of an inbound leg is `call.created`. Outbound legs (agent legs the switch
  originates, our own dial-outs) are not calls of ours.
- CHANNEL_ANSWER maps to nothing. A contact center answers the caller at once (IVR, queue,
  hold music), so the caller's answer says nothing about an agent; an agent leg's answer
  is followed by the bridge, which is the moment the two talk. It is not subscribed.
- CHANNEL_BRIDGE is `call.answered`. FreeSWITCH fires it once, on the bridging leg (the
  caller of the `bridge` app, or the first uuid of `uuid_bridge`, as mod_callcenter's
  `uuid_bridge <member> <agent>`); when that leg is inbound it is the caller and
  Bridge-B-Unique-ID (else Other-Leg-Unique-ID) is the agent's leg. A bridge fired on an
  outbound leg maps to nothing. `agent_id` is the channel variable `agent_variable` of the
  caller's leg (default `cc_agent_id`; set it before bridging), else routing's choice.
- CHANNEL_HANGUP_COMPLETE of an inbound leg is `call.ended` with the end reason of its
  Hangup-Cause (END_REASONS; any other cause is `failed`); an agent leg's end is not the
  caller's and maps to nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, TypedDict

import msgspec

from callcenter.domain.agents import AGENT_ID_PATTERN
from callcenter.domain.calls import Direction
from callcenter.domain.events import (
    AttributeValue,
    CallAnswered,
    CallCreated,
    CallEnded,
    CallEvent,
    EndReason,
)
from callcenter.errors import CallcenterError, InvalidInput, split_validation_message
from callcenter.metrics import Metrics

logger = logging.getLogger(__name__)

DIALECT = "freeswitch"
DEFAULT_PORT = 8021
DEFAULT_AGENT_VARIABLE = "cc_agent_id"
DEFAULT_MAX_HEADER_BYTES = 16 * 1024
DEFAULT_MAX_BODY_BYTES = 1024 * 1024  # mod_event_socket's own command buffer size
# HEARTBEAT (every 20 s by default) only proves the connection alive for the idle timeout.
SUBSCRIBED_EVENTS = ("CHANNEL_CREATE", "CHANNEL_BRIDGE", "CHANNEL_HANGUP_COMPLETE", "HEARTBEAT")
READ_CHUNK_BYTES = 64 * 1024
_TASK = "freeswitch_esl"

END_REASONS: Mapping[str, EndReason] = {
    "NORMAL_CLEARING": EndReason.NORMAL,
    "NORMAL_UNSPECIFIED": EndReason.NORMAL,
    "ATTENDED_TRANSFER": EndReason.NORMAL,
    "BLIND_TRANSFER": EndReason.NORMAL,
    "MANAGER_REQUEST": EndReason.NORMAL,  # uuid_kill / hupall: ended on purpose
    "USER_BUSY": EndReason.BUSY,
    "CALL_REJECTED": EndReason.BUSY,  # declined (SIP 603)
    "NO_ANSWER": EndReason.NO_ANSWER,
    "NO_USER_RESPONSE": EndReason.NO_ANSWER,
    "ORIGINATOR_CANCEL": EndReason.CANCELED,  # the caller hung up first
}

_HEADER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_VARIABLE_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
_AGENT_ID = re.compile(AGENT_ID_PATTERN)


class ProtocolError(InvalidInput):
    """The byte stream is not ESL or breaks a limit; the connection cannot go on."""


# --- wire messages -------------------------------------------------------------------


class MessageKind(StrEnum):
    """The Content-Type of an ESL message."""

    AUTH_REQUEST = "auth/request"
    COMMAND_REPLY = "command/reply"
    API_RESPONSE = "api/response"
    EVENT_JSON = "text/event-json"
    EVENT_PLAIN = "text/event-plain"
    EVENT_XML = "text/event-xml"
    DISCONNECT_NOTICE = "text/disconnect-notice"
    RUDE_REJECTION = "text/rude-rejection"  # refused by the listener's ACL
    LOG_DATA = "log/data"


@dataclass(frozen=True, slots=True)
class EslMessage:
    kind: MessageKind
    headers: Mapping[str, str]
    body: bytes = b""

    @property
    def reply_text(self) -> str:
        """Reply-Text of a command/reply, e.g. "+OK accepted" or "-ERR invalid"."""
        return self.headers.get("Reply-Text", "")


class EslParser:
    """Incremental ESL message parser: `feed` bytes in any chunking, iterate what completes.

    At most `max_header_bytes` of header block (blank line included) and `max_body_bytes`
    of body per message are held. Once it has raised ProtocolError the parser stays broken."""

    def __init__(
        self,
        *,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if max_header_bytes < 64 or max_body_bytes < 0:
            raise ValueError("max_header_bytes must be >= 64 and max_body_bytes >= 0")
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self._buffer = bytearray()
        self._scan_from = 0  # the blank line cannot end before here
        self._head: tuple[MessageKind, dict[str, str], int] | None = None
        self._broken = False

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> Iterator[EslMessage]:
        """Take `data` now; the iterator yields each message it completes, in order, and
        raises ProtocolError (after every good message before the fault) on a malformed
        or over-limit stream."""
        if self._broken:
            raise ProtocolError("the ESL stream is already broken")
        self._buffer += data
        return self._drain()

    def _drain(self) -> Iterator[EslMessage]:
        try:
            while (message := self._next()) is not None:
                yield message
        except ProtocolError:
            self._broken = True
            self._buffer.clear()
            self._head = None
            raise

    def _next(self) -> EslMessage | None:
        if self._head is None:
            self._head = self._take_head()
            if self._head is None:
                return None
        kind, headers, length = self._head
        if len(self._buffer) < length:
            return None
        body = bytes(self._buffer[:length])
        del self._buffer[:length]
        self._head = None
        return EslMessage(kind, headers, body)

    def _take_head(self) -> tuple[MessageKind, dict[str, str], int] | None:
        blank_lines = len(self._buffer) - len(self._buffer.lstrip(b"\n"))
        if blank_lines:  # tolerated between messages, as other ESL clients do
            del self._buffer[:blank_lines]
            self._scan_from = 0
        end = self._buffer.find(b"\n\n", self._scan_from)
        if end < 0:
            if len(self._buffer) >= self.max_header_bytes:
                raise ProtocolError(f"header block longer than {self.max_header_bytes} bytes")
            self._scan_from = max(0, len(self._buffer) - 1)
            return None
        if end + 2 > self.max_header_bytes:
            raise ProtocolError(f"header block longer than {self.max_header_bytes} bytes")
        block = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        self._scan_from = 0
        return self._parse_head(block)

    def _parse_head(self, block: bytes) -> tuple[MessageKind, dict[str, str], int]:
        try:
            text = block.decode()
        except UnicodeDecodeError:
            raise ProtocolError("header block is not UTF-8") from None
        headers: dict[str, str] = {}
        for line in text.split("\n"):
            name, colon, value = line.partition(":")
            if not colon or not _HEADER_NAME.fullmatch(name):
                raise ProtocolError(f"malformed header line {line[:64]!a}")
            headers[name] = value.strip()
        content_type = headers.get("Content-Type")
        if content_type is None:
            raise ProtocolError("message without Content-Type")
        try:
            kind = MessageKind(content_type)
        except ValueError:
            raise ProtocolError(f"unknown Content-Type {content_type[:64]!a}") from None
        return kind, headers, self._content_length(headers.get("Content-Length"))

    def _content_length(self, value: str | None) -> int:
        if value is None:
            return 0
        if not (value.isascii() and value.isdigit()) or len(value) > 12:
            raise ProtocolError(f"Content-Length {value[:32]!a} is not a byte count")
        length = int(value)
        if length > self.max_body_bytes:
            raise ProtocolError(f"Content-Length {length} exceeds {self.max_body_bytes} bytes")
        return length


# --- event mapping -------------------------------------------------------------------

_UniqueId = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:@-]+(?!\n)$")
]
_Decimal = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,16}(?!\n)$")]
_Party = Annotated[str, msgspec.Meta(max_length=256)]
_Cause = Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9_]{1,64}(?!\n)$")]


class ChannelHeaders(msgspec.Struct, frozen=True, kw_only=True):
    """The headers of a channel event that the mapping reads; all others are ignored."""

    event_name: str = msgspec.field(name="Event-Name")
    unique_id: _UniqueId = msgspec.field(name="Unique-ID")
    sequence: _Decimal = msgspec.field(name="Event-Sequence")
    timestamp_us: _Decimal = msgspec.field(name="Event-Date-Timestamp")
    direction: Direction = msgspec.field(name="Call-Direction")
    caller_number: _Party = msgspec.field(default="", name="Caller-Caller-ID-Number")
    caller_name: _Party = msgspec.field(default="", name="Caller-Caller-ID-Name")
    destination: _Party = msgspec.field(default="", name="Caller-Destination-Number")
    hangup_cause: _Cause | None = msgspec.field(default=None, name="Hangup-Cause")
    bridge_b: _UniqueId | None = msgspec.field(default=None, name="Bridge-B-Unique-ID")
    other_leg: _UniqueId | None = msgspec.field(default=None, name="Other-Leg-Unique-ID")


_MAPPED_EVENTS = frozenset({"CHANNEL_CREATE", "CHANNEL_BRIDGE", "CHANNEL_HANGUP_COMPLETE"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Common(TypedDict):
    event_id: str
    call_id: str
    occurred_at: datetime
    from_: str | None
    to: str | None
    direction: Direction


def decode_event_json(body: bytes) -> dict[str, object]:
    """A `text/event-json` body as its JSON object. Raises InvalidInput."""
    try:
        document = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError) as error:
        raise InvalidInput(f"malformed event JSON: {error}") from None
    if not isinstance(document, dict):
        raise InvalidInput("an ESL event must be a JSON object")
    return document


def to_canonical(
    document: dict[str, object], *, agent_variable: str = DEFAULT_AGENT_VARIABLE
) -> CallEvent | None:
    """The canonical event for one FreeSWITCH event (see the module docstring), or None for
    an event with no canonical meaning. Raises InvalidInput pointing at the bad header."""
    name = document.get("Event-Name")
    if not isinstance(name, str) or not name:
        raise InvalidInput("Event-Name is required", "/Event-Name")
    if name not in _MAPPED_EVENTS:
        return None
    try:
        channel = msgspec.convert(document, ChannelHeaders)
    except msgspec.ValidationError as error:
        reason, pointer = split_validation_message(str(error))
        raise InvalidInput(reason, pointer) from None
    if channel.direction is not Direction.INBOUND:
        return None  # an agent leg or a dial-out, never the caller
    common = _Common(
        event_id=f"freeswitch:{channel.unique_id}:{name}:{channel.sequence}",
        call_id=channel.unique_id,
        occurred_at=_EPOCH + timedelta(microseconds=int(channel.timestamp_us)),
        from_=channel.caller_number or None,
        to=channel.destination or None,
        direction=channel.direction,
    )
    attributes: dict[str, AttributeValue] = {}
    if name == "CHANNEL_CREATE":
        if channel.caller_name:
            attributes["caller_name"] = channel.caller_name
        return CallCreated(**common, attributes=attributes)
    if name == "CHANNEL_BRIDGE":
        agent_leg = channel.bridge_b or channel.other_leg
        if agent_leg:
            attributes["agent_leg_id"] = agent_leg
        agent_id = _agent_id(document, agent_variable)
        return CallAnswered(**common, agent_id=agent_id, attributes=attributes)
    if channel.hangup_cause is None:
        raise InvalidInput("Hangup-Cause is required", "/Hangup-Cause")
    attributes["hangup_cause"] = channel.hangup_cause
    reason = END_REASONS.get(channel.hangup_cause, EndReason.FAILED)
    return CallEnded(**common, end_reason=reason, attributes=attributes)


def map_event_json(
    body: bytes, *, agent_variable: str = DEFAULT_AGENT_VARIABLE
) -> CallEvent | None:
    """decode_event_json then to_canonical; raises InvalidInput as they do."""
    return to_canonical(decode_event_json(body), agent_variable=agent_variable)


def _agent_id(document: Mapping[str, object], agent_variable: str) -> str | None:
    header = f"variable_{agent_variable}"
    value = document.get(header)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _AGENT_ID.fullmatch(value):
        raise InvalidInput("an agent id must be 1-64 of A-Z a-z 0-9 _ . @ -", f"/{header}")
    return value


# --- the client ----------------------------------------------------------------------


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
    """Seconds to wait after `failures` consecutive failed attempts (1, 2, ...): doubling
    from `first_seconds`, capped at `max_seconds`."""
    return float(min(max_seconds, first_seconds * 2.0 ** min(max(failures, 1) - 1, 32)))


class _Connection:
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
        if not 0 < first_backoff_seconds <= max_backoff_seconds or auth_retry_seconds <= 0:
            raise ValueError("backoffs must be positive, the first no more than the maximum")
        EslParser(max_header_bytes=max_header_bytes, max_body_bytes=max_body_bytes)  # validate
        self._host = host
        self._port = port
        self._password = password
        self._on_event = on_event
        self._metrics = metrics
        self._agent_variable = agent_variable
        self._first_backoff = first_backoff_seconds
        self._max_backoff = max_backoff_seconds
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
                delay = reconnect_delay(self._failures, self._first_backoff, self._max_backoff)
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
        connection = _Connection(reader, writer, parser)
        try:
            async with asyncio.timeout(self._connect_timeout):
                refused = await self._handshake(connection)
            if refused is not None:
                return refused
            self._connected = True
            self._failures = 0
            logger.info("FreeSWITCH ESL at %s:%d: subscribed", self._host, self._port)
            return await self._pump(connection)
        except ProtocolError as error:
            return SessionEnd.PROTOCOL_ERROR, str(error)
        except TimeoutError:
            return SessionEnd.TIMEOUT, "no data within the timeout"
        except OSError as error:
            return SessionEnd.CLOSED, str(error) or type(error).__name__
        finally:
            await connection.close()

    async def _handshake(self, connection: _Connection) -> tuple[SessionEnd, str] | None:
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
        await connection.send("event json " + " ".join(SUBSCRIBED_EVENTS))
        reply = await self._command_reply(connection)
        if reply is None:
            return SessionEnd.CLOSED, "closed before the subscription reply"
        if not reply.reply_text.startswith("+OK"):
            return SessionEnd.SUBSCRIBE_REJECTED, reply.reply_text
        return None

    async def _command_reply(self, connection: _Connection) -> EslMessage | None:
        while (message := await connection.receive()) is not None:
            if message.kind is MessageKind.COMMAND_REPLY:
                return message
            if message.kind is MessageKind.DISCONNECT_NOTICE:
                return None
            await self.handle_message(message)
        return None

    async def _pump(self, connection: _Connection) -> tuple[SessionEnd, str]:
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
            event = map_event_json(message.body, agent_variable=self._agent_variable)
        except InvalidInput as error:
            logger.warning("FreeSWITCH event not mapped: %s", error)
            self._metrics.events_total.labels(DIALECT, "unknown", "invalid").inc()
            return
        if event is None:
            return
        try:
            await self._on_event(event)
        except CallcenterError as error:  # a conflict or stale event: counted by the service
            logger.info("FreeSWITCH event not applied: %s", error, extra={"call_id": event.call_id})
        except Exception:
            logger.exception("applying a FreeSWITCH event failed", extra={"call_id": event.call_id})
            self._metrics.task_errors_total.labels(_TASK).inc()
