"""What every media session shares: a storage outage ends it as unavailable (1011), and a
close reason never outgrows what a websocket close frame can carry."""

from __future__ import annotations

import pytest

from callcenter.errors import InvalidInput, StorageUnavailable
from callcenter.media.flood import MediaGuard
from callcenter.metrics import Metrics
from callcenter.services.media_sessions import CloseKind, Closing, Frame, MediaSession


class Failing(MediaSession):
    """A session whose every frame fails with `error`."""

    def __init__(self, error: Exception, metrics: Metrics) -> None:
        super().__init__("test", MediaGuard(lambda: 0.0), metrics=metrics)
        self._error = error

    async def _handle(self, frame: Frame) -> None:
        raise self._error

    def close(self) -> None:
        pass


def rejected(metrics: Metrics, reason: str) -> float | None:
    return metrics.registry.get_sample_value(
        "callcenter_media_rejections_total", {"dialect": "test", "reason": reason}
    )


async def test_a_storage_outage_closes_as_unavailable() -> None:
    metrics = Metrics()
    closing = await Failing(StorageUnavailable("down"), metrics).receive("x")
    assert closing == Closing(CloseKind.UNAVAILABLE, b"storage unavailable, try again")
    assert rejected(metrics, "unavailable") == 1


async def test_the_close_reason_is_cut_to_what_a_close_frame_holds() -> None:
    metrics = Metrics()
    closing = await Failing(InvalidInput("é" * 200), metrics).receive(b"x")
    assert closing is not None and closing.kind is CloseKind.POLICY
    assert closing.reason == ("é" * 200).encode()[:120]
    assert rejected(metrics, "invalid") == 1


async def test_other_errors_are_not_a_closing() -> None:
    # a bug reaches the task boundary; it is not closed as bad input
    with pytest.raises(RuntimeError, match="bug"):
        await Failing(RuntimeError("bug"), Metrics()).receive(None)
