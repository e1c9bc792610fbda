"""The live websockets' own messages (the bus events they forward are in
`services/live_events.py`, the snapshots in `services/live_views.py`). The OpenAPI document
lists all of them per socket (`x-websocket-messages`)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from callcenter.domain.transcripts import TranscriptEntry
from callcenter.services.live_events import (
    LIVE_EVENT_TYPES,
    AgentUpdated,
    CallUpdated,
    MoodChanged,
    RouteOffered,
    TranscriptFinal,
    TranscriptPartial,
)
from callcenter.services.live_views import AgentSnapshot, WallboardSnapshot

# client → server


class Auth(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The first message: who the page is, and where it resumes from (a bus `seq` of an
    `epoch`), if anywhere."""

    type: Literal["auth"]
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    since: Annotated[int, msgspec.Meta(ge=0)] | None = None
    epoch: Annotated[str, msgspec.Meta(max_length=32)] | None = None


class Watch(msgspec.Struct, frozen=True, tag="watch", forbid_unknown_fields=True):
    """Wallboard: follow this call's transcript partials (null: none)."""

    call_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None


class AckAlert(msgspec.Struct, frozen=True, tag="ack", forbid_unknown_fields=True):
    """Wallboard: acknowledge an alert."""

    alert_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class Ping(msgspec.Struct, frozen=True, tag="ping", forbid_unknown_fields=True):
    pass


# server → client, besides snapshots and bus events


class Resync(msgspec.Struct, frozen=True, tag="resync"):
    """Start over: a snapshot follows (the page fell behind, or the bus began a new epoch)."""


class Pong(msgspec.Struct, frozen=True, tag="pong"):
    pass


class WatchedTranscript(msgspec.Struct, frozen=True, kw_only=True, tag="transcript"):
    """The answer to `watch`: the call's transcript so far."""

    call_id: str
    utterances: list[TranscriptEntry]


class SocketError(msgspec.Struct, frozen=True, kw_only=True, tag="error"):
    """`bad_message` (the socket stays open), or `unauthorized` / `forbidden` /
    `unknown_agent` just before the socket closes (4401 / 4403)."""

    code: str
    message: str


_CONTROL = (Resync, Pong, SocketError)
WALLBOARD_MESSAGES = (
    (Auth, Watch, AckAlert, Ping),
    (WallboardSnapshot, *LIVE_EVENT_TYPES, WatchedTranscript, *_CONTROL),
)
AGENT_MESSAGES = (
    (Auth, Ping),
    (
        AgentSnapshot,
        AgentUpdated,
        RouteOffered,
        CallUpdated,
        MoodChanged,
        TranscriptFinal,
        TranscriptPartial,
        *_CONTROL,
    ),
)
