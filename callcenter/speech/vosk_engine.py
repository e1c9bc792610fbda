"""The Vosk engine: one Kaldi model per process, one `KaldiRecognizer` per call leg. The only
module that imports vosk (its cffi calls release the GIL, so recognisers run in threads)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from callcenter.speech.engines import (
    DEFAULT_PARTIAL_INTERVAL_S,
    EngineUnavailable,
    Final,
    Partial,
    Result,
    Word,
)

try:
    import vosk
except ImportError as error:  # the package is a dependency, but say so plainly if absent
    raise EngineUnavailable("vosk", "Python package 'vosk'", "not installed") from error

DEFAULT_SAMPLE_RATE = 16000  # Kaldi's default when mfcc.conf does not say
DEFAULT_ENDPOINT_SILENCE_S = 0.5
QUIET_RMS = 330.0  # about -40 dBFS: quieter audio counts as silence for our endpoint
_SAMPLE_FREQUENCY = re.compile(r"^--sample-frequency=(\d+)", re.MULTILINE)
# Where Vosk looks for the acoustic model: the current layout, then the old flat one.
_ACOUSTIC_MODELS = ("am/final.mdl", "final.mdl")


class _VoskWord(msgspec.Struct, frozen=True):
    word: str
    start: float
    end: float
    conf: float = 1.0


class _VoskFinal(msgspec.Struct, frozen=True):
    text: str = ""
    result: tuple[_VoskWord, ...] = ()


class _VoskPartial(msgspec.Struct, frozen=True):
    partial: str = ""


_final_decoder = msgspec.json.Decoder(_VoskFinal)
_partial_decoder = msgspec.json.Decoder(_VoskPartial)


def _check_model_dir(model_dir: Path) -> None:
    """Raise EngineUnavailable unless `model_dir` looks like a readable Vosk model."""
    if not model_dir.exists():
        raise EngineUnavailable("vosk", str(model_dir), "no such model directory")
    if not model_dir.is_dir():
        raise EngineUnavailable("vosk", str(model_dir), "not a directory")
    candidates = [model_dir / name for name in _ACOUSTIC_MODELS]
    acoustic = next((path for path in candidates if path.is_file()), None)
    if acoustic is None:
        raise EngineUnavailable(
            "vosk", str(candidates[0]), "missing: not a Vosk model directory (no acoustic model)"
        )
    if not os.access(acoustic, os.R_OK):
        raise EngineUnavailable("vosk", str(acoustic), "not readable")


def _model_sample_rate(model_dir: Path) -> int:
    """The rate the model's features expect, from conf/mfcc.conf (Kaldi's 16 kHz if unset)."""
    try:
        text = (model_dir / "conf" / "mfcc.conf").read_text(encoding="utf-8")
    except OSError:
        return DEFAULT_SAMPLE_RATE
    match = _SAMPLE_FREQUENCY.search(text)
    return int(match.group(1)) if match else DEFAULT_SAMPLE_RATE


def _rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    return float(np.sqrt(np.mean(samples * samples))) if len(samples) else 0.0


class VoskRecognizer:
    """One leg's `KaldiRecognizer`: finals with word timings, partials as text.

    Besides the model's own endpointer (which waits up to 1 s of silence, or 2 s, when it is
    unsure of the words) an utterance also ends after `endpoint_silence_s` of quiet audio
    following louder audio; None leaves endpoints to the model."""

    def __init__(
        self,
        model: Any,
        sample_rate: int,
        partial_interval_s: float,
        endpoint_silence_s: float | None,
    ) -> None:
        recognizer = vosk.KaldiRecognizer(model, float(sample_rate))
        recognizer.SetWords(True)
        self._recognizer: Any = recognizer
        self._sample_rate = sample_rate
        self._partial_every = max(1, round(partial_interval_s * sample_rate))  # samples
        self._quiet_needed = (
            None if endpoint_silence_s is None else round(endpoint_silence_s * sample_rate)
        )
        self._quiet = 0  # samples of quiet audio since the last loud chunk
        self._heard = False  # loud audio since the last final
        # Vosk's word times count every sample the recogniser was ever given, across
        # streams; ours start again at each stream.
        self._samples = 0
        self._stream_start = 0
        self._next_partial = self._partial_every
        self._last_partial = ""

    def _live(self) -> Any:
        if self._recognizer is None:
            raise RuntimeError("recognizer used after close()")
        return self._recognizer

    def _position(self) -> float:
        return (self._samples - self._stream_start) / self._sample_rate

    def _final(self, payload: str) -> list[Result]:
        self._last_partial = ""
        self._heard = False
        decoded = _final_decoder.decode(payload)
        if not decoded.text:
            return []
        base = self._stream_start / self._sample_rate
        words = tuple(Word(w.word, w.start - base, w.end - base, w.conf) for w in decoded.result)
        return [Final(decoded.text, words, self._position())]

    def accept(self, pcm: bytes, *, partials: bool = True) -> list[Result]:
        recognizer = self._live()
        self._samples += len(pcm) // 2
        if recognizer.AcceptWaveform(pcm) or self._silence_ended(pcm):
            return self._final(recognizer.Result())
        if not partials or self._samples - self._stream_start < self._next_partial:
            return []
        self._next_partial = self._samples - self._stream_start + self._partial_every
        text = _partial_decoder.decode(recognizer.PartialResult()).partial
        if not text or text == self._last_partial:
            return []
        self._last_partial = text
        return [Partial(text, self._position())]

    def _silence_ended(self, pcm: bytes) -> bool:
        """Whether `pcm` completes `endpoint_silence_s` of quiet after loud audio."""
        if self._quiet_needed is None:
            return False
        if _rms(pcm) >= QUIET_RMS:
            self._heard = True
            self._quiet = 0
            return False
        self._quiet += len(pcm) // 2
        return self._heard and self._quiet >= self._quiet_needed

    def finish(self) -> list[Result]:
        recognizer = self._live()
        # FinalResult also frees the decoder: the next accept() starts a fresh stream.
        results = self._final(recognizer.FinalResult())
        self._stream_start = self._samples
        self._next_partial = self._partial_every
        self._quiet = 0
        return results

    def close(self) -> None:
        # KaldiRecognizer frees its native state when the last reference goes. Not pooled
        # for reuse: with a lookahead graph (the small models) each recogniser caches ~100 MB
        # of expanded graph, which should go with the leg.
        self._recognizer = None


class VoskEngine:
    """A Vosk model directory loaded once; `new_recognizer` is thread-safe.

    Loading takes seconds and hundreds of MB: build it off the event loop, once per process.
    With a lookahead graph (Gr.fst + HCLr.fst, as the small models have) every recogniser
    also expands its own cache of it, about 100 MB once warm: memory grows with concurrent
    legs, not just with the model. Raises EngineUnavailable naming the missing or unreadable
    path.
    """

    name = "vosk"
    releases_gil = True  # cffi drops the GIL around every call into libvosk

    def __init__(
        self,
        model_dir: Path,
        *,
        partial_interval_s: float = DEFAULT_PARTIAL_INTERVAL_S,
        endpoint_silence_s: float | None = DEFAULT_ENDPOINT_SILENCE_S,
    ) -> None:
        model_dir = Path(model_dir)
        _check_model_dir(model_dir)
        vosk.SetLogLevel(-1)  # Kaldi logs every model load and stream to stderr otherwise
        try:
            self._model: Any = vosk.Model(str(model_dir))
        except Exception as error:  # vosk raises a bare Exception
            raise EngineUnavailable("vosk", str(model_dir), "vosk could not load it") from error
        self.model_dir = model_dir
        self._sample_rate = _model_sample_rate(model_dir)
        self._partial_interval_s = partial_interval_s
        self._endpoint_silence_s = endpoint_silence_s

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    def new_recognizer(self) -> VoskRecognizer:
        return VoskRecognizer(
            self._model, self._sample_rate, self._partial_interval_s, self._endpoint_silence_s
        )
