"""mod_event_socket's wire format, parsed incrementally and purely: a block of "Name: value"
lines ended by an empty line, then exactly Content-Length body bytes when that header is
present."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum

from callcenter.errors import InvalidInput

DEFAULT_MAX_HEADER_BYTES = 16 * 1024
DEFAULT_MAX_BODY_BYTES = 1024 * 1024  # mod_event_socket's own command buffer size
_HEADER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")


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
