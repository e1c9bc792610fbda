"""Why a media connection is refused on policy grounds (rather than for malformed input):
the reason is the `reason` label of `media_rejections_total`, a small fixed set."""

from __future__ import annotations

from enum import StrEnum

from callcenter.errors import InvalidInput


class Refusal(StrEnum):
    FLOOD = "flood"  # audio or messages far faster than real time
    TOO_BIG = "too_big"  # one frame holds more audio than any gateway sends at once
    UNKNOWN_CALL = "unknown_call"  # the stream names no live call of its gateway
    BAD_BINDING = "bad_binding"  # a Twilio stream without a valid binding to its call
    FOREIGN_ACCOUNT = "foreign_account"  # a Twilio stream of another account


class MediaRefused(InvalidInput):
    """The connection must end: `refusal` says why (for the metric), the message how."""

    def __init__(self, refusal: Refusal, reason: str) -> None:
        super().__init__(reason)
        self.refusal = refusal
