"""The one error hierarchy. Each error carries structured fields; only the web edge maps
them to HTTP (problem+json), and the CLI to a one-line message."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

import msgspec

T = TypeVar("T")


class CallcenterError(Exception):
    """Base of every error the service raises on purpose."""


class SettingError(CallcenterError):
    """A configuration value that cannot be used."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(name, reason)
        self.name = name
        self.reason = reason

    def __str__(self) -> str:
        return f"setting {self.name}: {self.reason}"


class InvalidInput(CallcenterError):
    """A request whose content is wrong; `pointer` is an RFC 6901 JSON pointer to the field."""

    def __init__(self, reason: str, pointer: str = "") -> None:
        super().__init__(reason, pointer)
        self.reason = reason
        self.pointer = pointer

    def __str__(self) -> str:
        return f"{self.reason} (at {self.pointer})" if self.pointer else self.reason


class PayloadTooLarge(CallcenterError):
    def __init__(self, limit_bytes: int) -> None:
        super().__init__(limit_bytes)
        self.limit_bytes = limit_bytes

    def __str__(self) -> str:
        return f"request body exceeds the limit of {self.limit_bytes} bytes"


class NotFound(CallcenterError):
    def __init__(self, entity: str, entity_id: str) -> None:
        super().__init__(entity, entity_id)
        self.entity = entity
        self.entity_id = entity_id

    def __str__(self) -> str:
        return f"{self.entity} {self.entity_id!r} does not exist"


class Conflict(CallcenterError):
    """A request that is valid but clashes with the current state."""


class IllegalTransition(Conflict):
    """A state change that the state machine does not allow."""

    def __init__(self, entity: str, entity_id: str, current: str, requested: str) -> None:
        super().__init__(entity, entity_id, current, requested)
        self.entity = entity
        self.entity_id = entity_id
        self.current = current
        self.requested = requested

    def __str__(self) -> str:
        return (
            f"{self.entity} {self.entity_id!r} cannot go from {self.current!r} "
            f"to {self.requested!r}"
        )


class AgentBusy(Conflict):
    """The agent already holds another call (voice capacity is 1)."""

    def __init__(self, agent_id: str, call_id: str) -> None:
        super().__init__(agent_id, call_id)
        self.agent_id = agent_id
        self.call_id = call_id

    def __str__(self) -> str:
        return f"agent {self.agent_id!r} is busy with call {self.call_id!r}"


class NotEnded(Conflict):
    """The call is not in its caller's history yet: it has not ended."""

    def __init__(self, call_id: str) -> None:
        super().__init__(call_id)
        self.call_id = call_id

    def __str__(self) -> str:
        return f"call {self.call_id!r} has not ended yet: wrap it up once it has"


class ConcurrentUpdate(Conflict):
    """Optimistic concurrency gave up after repeated collisions on the same record."""

    def __init__(self, entity: str, entity_id: str) -> None:
        super().__init__(entity, entity_id)
        self.entity = entity
        self.entity_id = entity_id

    def __str__(self) -> str:
        return f"{self.entity} {self.entity_id!r} is changing too fast; retry"


class CallMismatch(Conflict):
    """A gateway's request names one call in its URL and another in its body."""

    def __init__(self, call_id: str, gateway_call_id: str) -> None:
        super().__init__(call_id, gateway_call_id)
        self.call_id = call_id
        self.gateway_call_id = gateway_call_id

    def __str__(self) -> str:
        return (
            f"the request is about the gateway's call {self.gateway_call_id!r}, which is "
            f"not call {self.call_id!r}"
        )


class DialRefused(CallcenterError):
    """The gateway refused to place a callback attempt: a final answer for that attempt."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"the gateway refused the callback: {self.reason}"


class ReplyNotSent(CallcenterError):
    """A channel (SMS, email) could not deliver an agent's reply; nothing was stored, so
    the agent may send it again."""

    def __init__(self, channel: str, reason: str) -> None:
        super().__init__(channel, reason)
        self.channel = channel
        self.reason = reason

    def __str__(self) -> str:
        return f"the {self.channel} reply was not sent: {self.reason}"


class Unauthorized(CallcenterError):
    """No usable credentials."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class Forbidden(CallcenterError):
    """Valid credentials without the right to this action."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class TooManyRequests(CallcenterError):
    """Over a rate limit (new chats per client address); try again after `retry_after`
    seconds."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason, retry_after)
        self.reason = reason
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.reason


class StorageUnavailable(CallcenterError):
    """Redis cannot be reached or answered with an error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"storage unavailable: {self.reason}"


class NotReplicated(StorageUnavailable):
    """A write reached the primary but not, in time, the replicas it must reach
    (CALLCENTER_REDIS_ACK_REPLICAS): answered 503 so the sender retries (idempotent)."""


class RulesInvalid(CallcenterError):
    """Routing rule files with problems, each "file:line: message"."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems)
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(self.problems)


class SentimentDataInvalid(CallcenterError):
    """A sentiment data file that cannot be used: `path` and what is wrong with it."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class ModelStoreError(CallcenterError):
    """The speech model store could not list, fetch, unpack or check a model: `subject` (a
    model name, URL, archive entry or directory) and why."""

    def __init__(self, subject: str, reason: str) -> None:
        super().__init__(subject, reason)
        self.subject = subject
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.subject}: {self.reason}"


_AT_PATH = re.compile(r" - at (?:`key` in )?`\$(?P<path>[^`]*)`$")
_PATH_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_NAMED_FIELD = re.compile(r"(?:missing required|contains unknown) field `(?P<field>[^`]+)`")


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def split_validation_message(message: str) -> tuple[str, str]:
    """(reason, RFC 6901 pointer) from a validation message in msgspec's form, e.g.
    "Expected `int` >= 1 - at `$[0].a`" -> ("Expected `int` >= 1", "/0/a").

    A bad map key or value points at the map ("$.skills[...]" -> "/skills"); a missing or
    unknown field points at the field itself."""
    match = _AT_PATH.search(message)
    reason = message[: match.start()] if match else message
    pointer = ""
    if match:
        for name, index in _PATH_SEGMENT.findall(match.group("path").split("[...]", 1)[0]):
            pointer += "/" + (_escape(name) if name else index)
        if "`key` in" in match.group(0):
            reason = f"{reason} (a key)"
    field = _NAMED_FIELD.search(reason)
    if field:
        pointer += "/" + _escape(field.group("field"))
    return reason, pointer


def decoded(read: Callable[[], T], *, malformed: str = "malformed JSON", context: str = "") -> T:
    """`read()` (a msgspec decode or convert) with its errors as InvalidInput: a value that
    does not fit the type names the bad field's pointer (its reason after `context`, when
    given); a document that is not well-formed (or nested too deeply) is `malformed`."""
    try:
        return read()
    except msgspec.ValidationError as error:
        reason, pointer = split_validation_message(str(error))
        raise InvalidInput(f"{context}{reason}", pointer) from None
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as error:
        raise InvalidInput(f"{malformed}: {error}" if malformed else str(error)) from None
