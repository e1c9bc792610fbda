"""L16 media sessions on their own: the metadata text frame opens the leg, binary frames
are its audio; bad, early, oversized or flooding input ends the session with its close
kind and a counted reason, and the leg is always closed."""

from __future__ import annotations

import numpy as np

from callcenter.media.frames import Track
from callcenter.metrics import Metrics
from callcenter.services.l16_media import SUBPROTOCOLS, L16MediaStreams
from callcenter.services.media_sessions import CloseKind, Closing
from tests.conftest import FIXTURES
from tests.media.conftest import RecordingSink

GENERIC = (FIXTURES / "l16" / "generic.json").read_text()  # call-42, agent, 8 kHz
FORK = (FIXTURES / "l16" / "mod_audio_fork.json").read_text()  # 16 kHz, mono
FRAME_20MS = np.zeros(160, dtype="<i2").tobytes()


def streams() -> tuple[L16MediaStreams, RecordingSink, Metrics]:
    sink, metrics = RecordingSink(), Metrics()
    return L16MediaStreams(sink, metrics=metrics), sink, metrics


def rejected(metrics: Metrics, reason: str) -> float | None:
    return metrics.registry.get_sample_value(
        "callcenter_media_rejections_total", {"dialect": "l16", "reason": reason}
    )


def test_the_subprotocols_are_the_senders_that_need_one() -> None:
    assert set(SUBPROTOCOLS) == {
        "audio.drachtio.org",
        "audiostream.drachtio.org",
        "audio.jambonz.org",
    }


async def test_metadata_opens_the_leg_and_frames_follow_in_order() -> None:
    l16, sink, _ = streams()
    session = l16.open(None)
    assert await session.receive(GENERIC) is None
    for _ in range(3):
        assert await session.receive(FRAME_20MS) is None
    assert await session.receive('{"type": "control"}') is None  # later text: skipped
    assert await session.receive(None) is None  # nor is any other frame audio
    session.close()
    assert sink.opened_legs == [("call-42", Track.AGENT, 8000)]
    assert [f.sequence for f in sink.frames] == [0, 1, 2]
    assert sink.closed_legs == [("call-42", Track.AGENT)]


async def test_the_subprotocol_picks_the_metadata_shape() -> None:
    l16, sink, _ = streams()
    session = l16.open("audio.drachtio.org")
    assert await session.receive(FORK) is None
    assert sink.opened_legs == [("6a1b5c0e-3f2d-4b8e-9c7a-2d4e6f8a0b1c", Track.CALLER, 16000)]


async def test_audio_before_the_metadata_is_a_policy_violation() -> None:
    l16, sink, metrics = streams()
    session = l16.open(None)
    closing = await session.receive(FRAME_20MS)
    assert closing == Closing(CloseKind.POLICY, b"audio before the metadata text frame")
    assert rejected(metrics, "invalid") == 1
    session.close()
    assert sink.calls == []


async def test_bad_metadata_is_a_policy_violation_with_a_short_reason() -> None:
    l16, _, metrics = streams()
    closing = await l16.open(None).receive('{"call_id": "' + "x" * 500 + '"}')
    assert closing is not None and closing.kind is CloseKind.POLICY
    assert 0 < len(closing.reason) <= 120
    assert rejected(metrics, "invalid") == 1


async def test_an_oversized_frame_is_too_big_and_the_leg_still_closes() -> None:
    l16, sink, metrics = streams()
    session = l16.open(None)
    await session.receive(GENERIC)
    closing = await session.receive(FRAME_20MS * 100)  # two seconds in one frame
    assert closing is not None and closing.kind is CloseKind.TOO_BIG
    assert rejected(metrics, "too_big") == 1
    session.close()
    assert sink.closed_legs == [("call-42", Track.AGENT)]


async def test_a_flood_of_messages_is_refused() -> None:
    l16, _, metrics = streams()
    session = l16.open(None)
    await session.receive(GENERIC)
    closing = None
    for _ in range(2000):
        closing = await session.receive("{}")
        if closing is not None:
            break
    assert closing == Closing(CloseKind.POLICY, b"messages arrive far faster than real time")
    assert rejected(metrics, "flood") == 1


async def test_a_silent_peer_and_a_revoked_token_are_counted() -> None:
    l16, _, metrics = streams()
    session = l16.open(None)
    session.timed_out()
    session.revoked()
    assert rejected(metrics, "timeout") == 1
    assert rejected(metrics, "revoked") == 1
